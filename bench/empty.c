/*
 * empty.c - the baseline preload for the load-cost bench: a shared object with no constructor,
 * no dependencies beyond libc and one unused symbol, so that what it costs is the bare price of
 * preloading any object. libakshim.so is compared against it.
 */
int ak_bench_empty_marker;
