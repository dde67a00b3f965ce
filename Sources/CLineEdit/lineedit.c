#include "CLineEdit.h"

static fp_completion_generator generator = NULL;

static char **attempted_completion(const char *text, int start, int end) {
    (void)start; (void)end;
    rl_attempted_completion_over = 1;   // no filename completion fallback
    if (!generator) return NULL;
    return rl_completion_matches(text, generator);
}

void fp_lineedit_set_completion(fp_completion_generator gen, const char *word_break_chars) {
    generator = gen;
    rl_attempted_completion_function = attempted_completion;
    rl_completion_append_character = '\0';   // a space would land inside a completed string
    if (word_break_chars) rl_basic_word_break_characters = (char *)word_break_chars;
}
