# file: codec/codec_match.c
# defect: the broker lets a filter that begins with a wildcard match a '$' topic
s/if (nlen \&\& n\[0\] == '\$' \&\& flen/if (0 \&\& nlen \&\& n[0] == '$' \&\& flen/
