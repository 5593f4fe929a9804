# file: codec/codec_match.c
# defect: the broker's '#' matches the levels below its parent but not the parent itself ("t/#" misses "t")
s/return j == nlen \&\& flen - i == 2 \&\& f\[i\] == '\/' \&\& f\[i + 1\] == '#';/return false; \/* mutant *\//
