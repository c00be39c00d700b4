#!/usr/bin/env bash
# The include arrows between parts follow the libraries' links: a part's
# files include headers only of the part itself and of the parts it links
# (the DEPS of its sse_part() in CMakeLists.txt, transitively), so no arrow
# runs back up; and only web/ includes libmicrohttpd's header.
# Usage: tests/layering.sh [source root]; prints each offending include.
set -euo pipefail
cd "${1:-$(dirname "$0")/..}"

# part -> direct deps, from the sse_part() calls (which may span lines).
declare -A deps
while read -r part rest; do
  [ -d "$part" ] || continue # the function's own definition
  deps[$part]=$( (grep -oE 'sse_[a-z]+' <<<"$rest" || true) | sed 's/^sse_//' | tr '\n' ' ')
done < <(tr '\n' ' ' <CMakeLists.txt | grep -oE 'sse_part\([a-z]+[^)]*\)' |
  sed -E 's/^sse_part\(([a-z]+)[^)]*DEPS([^)]*)\)/\1 \2/; s/^sse_part\(([a-z]+)\)/\1/')

reach() { # the part and everything it links, transitively
  local seen=" $1 " todo=($1) p d
  while [ ${#todo[@]} -gt 0 ]; do
    p=${todo[0]}; todo=("${todo[@]:1}")
    for d in ${deps[$p]:-}; do
      [[ $seen == *" $d "* ]] || { seen+="$d "; todo+=("$d"); }
    done
  done
  echo "$seen"
}

bad=0
for part in "${!deps[@]}"; do
  allowed=$(reach "$part")
  while IFS=: read -r file line inc; do
    target=${inc%%/*}
    if [[ $allowed != *" $target "* ]]; then
      echo "$file:$line: $part includes $inc, a part it does not link"
      bad=1
    fi
  done < <(grep -HnoE '#include "[a-z]+/[a-z_]+\.h"' "$part"/*.[ch] | sed -E 's/#include "(.*)"/\1/')
done
if grep -rln '<microhttpd.h>' --include='*.[ch]' . | grep -v '^\./web/' | grep -vE '^\./(build|bench)'; then
  echo "only web/ may include <microhttpd.h>"
  bad=1
fi
[ $bad -eq 0 ] && echo "layering: ${#deps[@]} parts, every include follows the links"
exit $bad
