# cmake -DIN=file -DOUT=file.inc -P EmbedText.cmake: OUT holds IN as a C++ raw string literal,
# for `#include "file.inc"` after an `=` (analysis's HTML report page). The delimiter must not
# occur in IN.
file(READ "${IN}" content)
string(FIND "${content}" ")fpokit_embed\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${IN} contains the raw-string delimiter )fpokit_embed\"")
endif()
file(WRITE "${OUT}.tmp" "R\"fpokit_embed(${content})fpokit_embed\"\n")
file(RENAME "${OUT}.tmp" "${OUT}")
