# Turns a text file into a C source with a NUL-terminated byte array, so the
# binary carries its SQL schema and demo page without a run-time file lookup.
# Usage: cmake -DIN=file -DOUT=file.c -DNAME=symbol -P embed.cmake
file(READ "${IN}" hex HEX)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
file(WRITE "${OUT}" "/* generated from ${IN}; do not edit */\n#include <stddef.h>\n"
    "const char ${NAME}[] = {${bytes}0x00};\nconst size_t ${NAME}_len = ${len};\n")
