# file: codec/codec_match.c
# defect: the broker's '+' takes the rest of the topic, not one level ("t/+" matches "t/a/x")
s/while (j < nlen \&\& n\[j\] != '\/')/while (j < nlen) \/* mutant *\//
