#!/bin/sh
# poc247 hook: appends one line per event to a file — UTC time, type, case, sequence number —
# for a pager that watches the file, or as the simplest record of what the node did.
#
#   [hook]
#   command = ["/etc/poc247/hooks/page-to-file.sh", "/var/log/poc247/pages.log"]
#   types = ["received", "delivery_failed"]
#
# The file is the first argument, or $POC247_PAGE_FILE. The event's JSON on stdin is not
# needed here: the node puts its ids in the environment (docs/events.md, "The hook command").
set -eu
file="${1:-${POC247_PAGE_FILE:-}}"
if [ -z "$file" ]; then
    echo "page-to-file: name the file as the first argument or in POC247_PAGE_FILE" >&2
    exit 2
fi
cat >/dev/null
seconds=$((POC247_EVENT_AT / 1000))
when=$(date -u -d "@$seconds" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
    date -u -r "$seconds" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null ||
    echo "$POC247_EVENT_AT")
printf '%s %s %s seq=%s\n' "$when" "$POC247_EVENT_TYPE" "${POC247_CASE_REF:--}" \
    "$POC247_EVENT_SEQ" >>"$file"
