/* SPDX-License-Identifier: MIT */
/* `iscsi-ifaced token create|list|revoke`: manage API tokens in the database from the shell. */
#pragma once

#include "options.h"

/*
 * Run the token CLI: argv[0] is "token", argv[1] the verb. o holds the daemon's defaults; its
 * db_path is used unless --db or --config says otherwise. Prints to stdout and stderr. Returns
 * the exit code: 0, 1 (the database or the operation failed) or 2 (a usage error).
 */
int token_cli_main(int argc, char *argv[], struct options *o);
