#!/usr/bin/env bash
# Checks that the C++ files of core/ lm/ sae/ fpo/ analysis/ tools/ tests/ bench/ (not
# tests/fixtures/) are clang-format clean under .clang-format (and tests/.clang-format).
#
#   scripts/check_format.sh               the files changed since the commit in .clang-format-base
#                                         (committed, staged, unstaged or untracked)
#   scripts/check_format.sh --all         every file
#   scripts/check_format.sh --base REV    the files changed since REV
#
# .clang-format-base holds one line: the commit from which formatting is enforced; every file
# changed after it must be clang-format clean as a whole (so the tree converges file by file,
# without one reformat commit that rewrites every line's history). The placeholder `HEAD` means
# nothing is enforced yet (except with --all).
#
# Prints each unformatted file with the command that fixes it. Exit codes: 0 clean (or nothing
# to check), 1 some file is not formatted, 2 usage error or the changed files cannot be listed,
# 77 clang-format is not installed (ctest reports the `format` test as skipped).
# $CLANG_FORMAT names the binary (default: clang-format, else clang-format-14).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

dirs=(core lm sae fpo analysis tools tests bench)
tuned_major=14  # the version .clang-format was tuned with (Debian 12's)

usage() { sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

mode=changed
base=""
while (($#)); do
  case "$1" in
    --all) mode=all ;;
    --base)
      [ $# -ge 2 ] || { echo "check_format: --base needs a commit (e.g. --base origin/main)" >&2; exit 2; }
      base=$2
      shift
      ;;
    -h | --help) usage; exit 0 ;;
    *) echo "check_format: unknown argument '$1' (use --all, --base REV or --help)" >&2; exit 2 ;;
  esac
  shift
done

clang_format=${CLANG_FORMAT:-}
if [ -z "$clang_format" ]; then
  clang_format=$(command -v clang-format || command -v clang-format-$tuned_major || true)
fi
if [ -z "$clang_format" ] || ! command -v "$clang_format" >/dev/null; then
  echo "check_format: clang-format is not installed, so formatting is not checked (Debian: apt-get install clang-format; scripts/setup.sh installs it)" >&2
  exit 77
fi
version=$("$clang_format" --version | sed -n 's/.*clang-format version \([0-9][0-9]*\).*/\1/p')
if [ "$version" != "$tuned_major" ]; then
  echo "check_format: note: $clang_format is version ${version:-unknown}; .clang-format was tuned with version $tuned_major, whose output may differ" >&2
fi

# C++ sources of the checked folders, one per line, from a list of paths.
cpp_only() { grep -E '\.(h|hpp|cpp|cc|cu|cuh)$' | grep -v '^tests/fixtures/' | sort -u || true; }

if [ "$mode" = all ]; then
  if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    files=$(git ls-files --cached --others --exclude-standard -- "${dirs[@]}" | cpp_only)
  else
    files=$(find "${dirs[@]}" -type f 2>/dev/null | cpp_only)
  fi
else
  if [ -z "$base" ]; then
    if [ ! -f .clang-format-base ]; then
      echo "check_format: .clang-format-base is missing (it names the commit after which files must be formatted); use --all or --base REV" >&2
      exit 2
    fi
    base=$(head -n 1 .clang-format-base | tr -d '[:space:]')
    if [ "$base" = HEAD ] || [ -z "$base" ]; then
      echo "check_format: .clang-format-base is still the placeholder 'HEAD' (formatting not enforced yet): nothing to check; --all checks every file"
      exit 0
    fi
  fi
  if ! git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    echo "check_format: $root is not a git checkout, so the files changed since $base cannot be listed; use --all" >&2
    exit 2
  fi
  if ! git rev-parse --verify --quiet "$base^{commit}" >/dev/null; then
    echo "check_format: base commit '$base' is not in this clone (a shallow clone? git fetch --unshallow); or use --all" >&2
    exit 2
  fi
  # Changed since base in the work tree (committed, staged or not), deleted files left out, plus
  # untracked files that are not ignored.
  files=$({ git diff --name-only --diff-filter=d "$base" -- "${dirs[@]}"
            git ls-files --others --exclude-standard -- "${dirs[@]}"; } | cpp_only)
fi

checked=0
bad=()
for f in $files; do
  [ -f "$f" ] || continue
  checked=$((checked + 1))
  if ! "$clang_format" --dry-run -Werror --style=file "$f" >/dev/null 2>&1; then
    bad+=("$f")
    echo "$f: not clang-format clean; fix: clang-format -i $f"
  fi
done

what="files changed since ${base:-}"
[ "$mode" = all ] && what="files"
if ((${#bad[@]})); then
  echo "check_format: ${#bad[@]} of $checked $what need formatting; from $root run:"
  echo "  clang-format -i ${bad[*]}"
  exit 1
fi
echo "check_format: $checked $what are clang-format clean"
