# Reads a linker version script (src/libtdill.map, ...) and prints
# "name node" for each symbol it exports, node being its version node.
# Used by abi/exports.sh and debian/gen-symbols. Expects the layout of
# tdill's scripts: a node opens with "NAME {" on a line of its own, and
# each symbol has its own line.

# Drops comments, also those that span lines.
{
    rest = $0; text = ""
    while (rest != "") {
        if (incomment) {
            i = index(rest, "*/")
            if (i == 0) rest = ""
            else { rest = substr(rest, i + 2); incomment = 0 }
        } else {
            i = index(rest, "/*")
            if (i == 0) { text = text rest; rest = "" }
            else { text = text substr(rest, 1, i - 1); rest = substr(rest, i + 2); incomment = 1 }
        }
    }
    $0 = text
}
/^[[:space:]]*[A-Za-z0-9_.]+[[:space:]]*\{/ {
    node = $1; sub(/\{.*/, "", node); next }
/^[[:space:]]*(global|local):/ { next }
/^[[:space:]]*\}/ { node = ""; next }
node != "" && /^[[:space:]]*[A-Za-z0-9_]+;/ {
    name = $1; sub(/;.*/, "", name); print name, node }
