// libedit's readline-compatible API for the REPL.
#ifndef FP_CLINEEDIT_H
#define FP_CLINEEDIT_H
#include <stdio.h>
#include <editline/readline.h>

// Completion: libedit calls the generator with the word being completed; fp's generator is set here.
typedef char *(*fp_completion_generator)(const char *text, int state);
void fp_lineedit_set_completion(fp_completion_generator gen, const char *word_break_chars);
#endif
