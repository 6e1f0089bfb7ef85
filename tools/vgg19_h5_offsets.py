#!/usr/bin/env python3
"""Print the byte offset, shape and size of every dataset in the Keras VGG19 weights file.

facestyle reads that file without an HDF5 library, by the offsets pinned in
crates/facestyle-models/src/h5.rs (trusted only after the file's md5 matches). Re-derive them:

    python3 -m pip install h5py
    python3 tools/vgg19_h5_offsets.py "$(cargo run -q -- models path vgg19)"
"""
import sys

import h5py


def main(path):
    with h5py.File(path, "r") as f:
        def visit(name, obj):
            if isinstance(obj, h5py.Dataset):
                assert obj.chunks is None and obj.compression is None, f"{name} is not contiguous"
                assert obj.dtype == "<f4", f"{name} is {obj.dtype}"
                print(name, obj.id.get_offset(), list(obj.shape), obj.id.get_storage_size())
        f.visititems(visit)


if __name__ == "__main__":
    main(sys.argv[1])
