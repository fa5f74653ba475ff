#!/usr/bin/env python3
"""Makes the demo model's training and validation text from Debian's bible-kjv package (the King
James Bible, public domain): one verse per line, verse references stripped. The books of Ruth, Jonah,
Titus and Philemon are held out for validation.

    apt-get install bible-kjv && python3 tools/prepare_kjv.py OUT_DIR
writes OUT_DIR/train.txt and OUT_DIR/valid.txt.
"""
import os
import re
import subprocess
import sys

HELD_OUT = {"Ruth", "Jonah", "Titus", "Phmn"}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    raw = subprocess.run(["bible", "-f", "Gen1:1-Rev22:21"], check=True, capture_output=True, text=True).stdout
    train, valid = [], []
    for line in raw.splitlines():
        m = re.match(r"^(\d?[A-Za-z]+)(\d+):(\d+) (.*)$", line)
        if not m:
            continue
        book, text = m.group(1), m.group(4).strip()
        (valid if book in HELD_OUT else train).append(text)
    with open(os.path.join(out, "train.txt"), "w") as f:
        f.write("\n".join(train) + "\n")
    with open(os.path.join(out, "valid.txt"), "w") as f:
        f.write("\n".join(valid) + "\n")
    print(f"train: {len(train)} verses, valid: {len(valid)} verses")


if __name__ == "__main__":
    main()
