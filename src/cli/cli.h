/*
 * cli.h - the isolde command's subcommands, one file each; main.c picks
 * one by name. Each takes the arguments after its name and returns the
 * process's exit status (2 for a usage error).
 */
#ifndef ISL_CLI_H
#define ISL_CLI_H

int isl_cli_dev(int argc, char **argv);   /* serve.c */
int isl_cli_serve(int argc, char **argv); /* serve.c */

#endif
