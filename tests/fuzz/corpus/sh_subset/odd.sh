export X="${U:-"}"}" Y="${U:-\}}" Z=${U:-'x'} W="${U-${V:-"q"}}"
if [ ! "$A" != 1 ]; then export K=1; elif test -d /; then unset A; else :; fi
