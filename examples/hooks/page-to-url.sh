#!/bin/sh
# poc247 hook: POSTs the event's JSON, as the node gives it on stdin, to a URL — a paging
# gateway, a chat webhook relay, a case-management system.
#
#   [hook]
#   command = ["/etc/poc247/hooks/page-to-url.sh", "https://pager.example.org/poc247"]
#   types = ["received", "delivery_failed"]
#   timeout_ms = 5000
#
# curl fails (exit status not 0) when the URL cannot be reached or answers with an HTTP error,
# so the node runs the hook again, up to `retries` times. Its own limit stays below the hook's
# timeout. The event names ids and kinds only, never a request's text (docs/events.md).
set -eu
url="${1:?page-to-url: the URL is the first argument}"
exec curl --silent --show-error --fail --max-time 4 \
    --header 'Content-Type: application/json' \
    --header "X-Poc247-Event: $POC247_EVENT_TYPE" \
    --data-binary @- "$url"
