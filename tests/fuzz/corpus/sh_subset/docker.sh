#!/bin/sh
export PATH='/usr/local/bin:/usr/bin'
export LANG='C.UTF-8' GPG_KEY='A035C8C19219BA821ECEA86B64E628F8D684696D'
export X='it'\''s'
PATH="${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}"
export PATH
PS1='Singularity> '
if [ -z "${LD_LIBRARY_PATH:-}" ]; then
	LD_LIBRARY_PATH='/.singularity.d/libs'
else
	LD_LIBRARY_PATH="$LD_LIBRARY_PATH":'/.singularity.d/libs'
fi
export PS1 LD_LIBRARY_PATH
export A="x\"y\$z" B=plain C=
:
export FOO="$HOME/bin:${FOO:+$FOO:}/opt"
