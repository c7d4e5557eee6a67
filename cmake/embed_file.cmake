# Turns one file into a C source holding its bytes, so an asset (the status
# page) lives in the tree as itself and ships inside the binary:
#
#   cmake -DINPUT=page.html -DOUTPUT=page.c -DNAME=sr_status_page -P embed_file.cmake
#
# defines `const unsigned char NAME[]` (NUL-terminated, not counted) and
# `const size_t NAME_len`. Run at build time by a custom command, so an
# edit of the file rebuilds the binary.
file(READ "${INPUT}" hex HEX)
string(LENGTH "${hex}" hex_len)
math(EXPR size "${hex_len} / 2")
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
# 16 bytes a line keeps the generated file readable (CMake's regex has no {n})
string(REPEAT "0x..," 16 line)
string(REGEX REPLACE "(${line})" "\\1\n    " bytes "${bytes}")
get_filename_component(source_name "${INPUT}" NAME)
file(WRITE "${OUTPUT}.tmp"
  "/* generated from ${source_name} by cmake/embed_file.cmake; do not edit */\n"
  "#include <stddef.h>\n\n"
  "const unsigned char ${NAME}[] = {\n    ${bytes}0x00};\n"
  "const size_t ${NAME}_len = ${size};\n")
file(RENAME "${OUTPUT}.tmp" "${OUTPUT}")
