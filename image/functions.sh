#!/bin/sh
# Chooses the catalog functions the image ships: keeps the binaries in DIR
# that LIST names, removes the others, and prints the exec runtime's config
# (compat §3) for the kept ones on stdout, for /config.yaml.
#
#   image/functions.sh CATALOG DIR LIST
#
# CATALOG is image/catalog.yaml; LIST is `all`, `none`, or function names
# from it separated by commas. `none` prints an empty, valid config.
# Unknown names and missing binaries fail (exit 1), naming them.
set -eu
if [ "$#" -ne 3 ]; then
	echo "usage: $0 CATALOG DIR LIST" >&2
	exit 2
fi
catalog=$1
dir=$2
list=$3

names=$(awk '$1 == "-" && $2 == "function:" { print $3 }' "$catalog")
case $list in
all) keep=$names ;;
none) keep= ;;
*)
	keep=$(printf '%s\n' "$list" | tr ',' '\n' | sed -e 's/^ *//' -e 's/ *$//' -e '/^$/d')
	for name in $keep; do
		if ! printf '%s\n' "$names" | grep -qxF -- "$name"; then
			echo "$0: $name is not a catalog function; known: $(echo $names)" >&2
			exit 1
		fi
	done
	;;
esac

for name in $names; do
	if printf '%s\n' "$keep" | grep -qxF -- "$name"; then
		if [ ! -x "$dir/$name" ]; then
			echo "$0: $dir/$name is missing or not executable" >&2
			exit 1
		fi
	else
		rm -f "$dir/$name"
	fi
done

echo "# The exec runtime's cached functions (compat §3), in $dir; written by image/functions.sh."
if [ -z "$keep" ]; then
	echo "functions: []"
	exit 0
fi
awk -v keep="$(echo $keep)" '
	BEGIN { n = split(keep, k, " "); for (i = 1; i <= n; i++) want[k[i]] = 1 }
	/^functions:/ { print; started = 1; next }
	!started { next }
	$1 == "-" && $2 == "function:" { on = ($3 in want) }
	on { print }
' "$catalog"
