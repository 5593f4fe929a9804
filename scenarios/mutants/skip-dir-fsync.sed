# file: client/store_fs.c
# defect: a save does not fsync the directory after its rename (the Go seed's file store)
/The rename is durable only once the directory is/{n;s/.*/\treturn 0; \/* mutant: no directory fsync *\//;}
