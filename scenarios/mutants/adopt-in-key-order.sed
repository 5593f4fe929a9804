# file: client/store_checked.c
# defect: records are adopted in key order, not save order, so a restart resends out of publish order
s/qsort(found, nfound, sizeof \*found, by_sequence);/(void)by_sequence; \/* mutant: key order *\//
