#!/bin/sh
# Static checks for the code that runs as root (starter/, common/) and the
# formatting of every C file:
#   clang-tidy  starter/*.c common/*.c, with .clang-tidy and the
#               compile_commands.json of a (gcc) build dir of its own
#   cppcheck    --enable=warning,portability,performance on starter/ common/
#   format      clang-format --dry-run -Werror on all C files of the repo
#   tools/lint.sh [tidy] [cppcheck] [format]     (default: all three)
# Prints each finding, then one line per check; exit 1 if any check failed.
set -eu
cd "$(dirname "$0")/.."
BUILD="${LINT_BUILD:-$PWD/build-lint}"
checks="${*:-tidy cppcheck format}"
failed=""

if [ ! -f "$BUILD/compile_commands.json" ]; then
        meson setup "$BUILD" . >/dev/null
fi

for c in $checks; do
        case $c in
        tidy)
                # One file per process: clang-tidy 14 given several files at
                # once reports false valist.Uninitialized errors.
                if ls starter/*.c common/*.c |
                        xargs -n1 -P2 clang-tidy --quiet -p "$BUILD" 2>/dev/null |
                        grep -E '(error|warning):' ; then
                        failed="$failed tidy"
                fi
                ;;
        cppcheck)
                # The _cleanup_ attributes are invisible to cppcheck: a false
                # leak report is silenced in the code with
                # "// cppcheck-suppress resourceLeak" and a reason.
                if ! cppcheck --enable=warning,portability,performance --error-exitcode=1 \
                        --inline-suppr --quiet --std=c11 -D_GNU_SOURCE -D__GNUC__ \
                        -Icommon -Istarter -I"$BUILD" starter common; then
                        failed="$failed cppcheck"
                fi
                ;;
        format)
                bad=$({ git ls-files '*.c' '*.h'; git ls-files --others --exclude-standard '*.c' '*.h'; } |
                        sort -u | while read -r f; do
                        [ -f "$f" ] || continue
                        clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || echo "$f"
                done)
                if [ -n "$bad" ]; then
                        echo "not clang-format clean (run clang-format -i on them):"
                        echo "$bad" | sed 's/^/  /'
                        failed="$failed format"
                fi
                ;;
        *)
                echo "unknown check $c (tidy, cppcheck, format)" >&2
                exit 2
                ;;
        esac
        case " $failed " in
        *" $c "*) echo "lint: $c FAILED" ;;
        *) echo "lint: $c ok" ;;
        esac
done
[ -z "$failed" ]
