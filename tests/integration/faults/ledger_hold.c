/*
 * ledger_hold.c - a hostile neighbour for the fault tests: opens STATE_DIR/state.mdb the way
 * any LMDB program can, begins a write transaction, prints "held" and then either SIGSTOPs
 * itself (--stop: the test sends SIGCONT) or waits for stdin to close; then aborts the txn.
 * Usage: ledger_hold STATE_DIR [--stop]
 */
#include <lmdb.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/ledger_impl.h"

#define MAX_DBS 8

int main(int argc, char **argv)
{
    char path[4096], c;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    if (argc < 2 || snprintf(path, sizeof path, "%s/state.mdb", argv[1]) >= (int)sizeof path)
        return 2;
    int rc = mdb_env_create(&env);
    if (rc == 0)
        rc = mdb_env_set_maxdbs(env, MAX_DBS);
    if (rc == 0)
        rc = mdb_env_open(env, path, LEDGER_ENV_FLAGS, 0660);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, 0, &txn);
    if (rc != 0) {
        fprintf(stderr, "ledger_hold: %s\n", mdb_strerror(rc));
        return 1;
    }
    printf("held\n");
    fflush(stdout);
    if (argc > 2 && strcmp(argv[2], "--stop") == 0)
        raise(SIGSTOP);
    else
        while (read(0, &c, 1) > 0)
            ;
    mdb_txn_abort(txn);
    mdb_env_close(env);
    return 0;
}
