# file: client/store_checked.c
# defect: the save sequence starts again at 1 after adopting, so new records sort before old ones at the next restart
s/c->next_seq = found\[i\].r.seq + 1;/(void)0; \/* mutant: sequence not carried on *\//
