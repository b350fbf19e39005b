#!/bin/sh
# poc247 hook: mails the officer on duty one short message per event through the host's
# sendmail (Postfix, Exim, msmtp … all provide it) — ids and the event's type only, never a
# request's text.
#
#   [hook]
#   command = ["/etc/poc247/hooks/page-by-mail.sh", "duty-officer@example.org"]
#   types = ["received", "deadline", "delivery_failed", "hook_failed"]
#
# The recipient is the first argument, or $POC247_PAGE_MAIL; the sendmail program is
# $POC247_SENDMAIL, or /usr/sbin/sendmail. A sendmail that fails makes the run fail, so the
# node tries again and, at last, raises its own alarm (docs/events.md, "The hook command").
set -eu
to="${1:-${POC247_PAGE_MAIL:-}}"
if [ -z "$to" ]; then
    echo "page-by-mail: name the recipient as the first argument or in POC247_PAGE_MAIL" >&2
    exit 2
fi
sendmail="${POC247_SENDMAIL:-/usr/sbin/sendmail}"
cat >/dev/null
case="${POC247_CASE_REF:--}"
# An emergency says so first, so that it stands out in a list of mails.
urgency="${POC247_URGENCY:-}"
flag=""
[ "$urgency" = "emergency" ] && flag="EMERGENCY "
"$sendmail" -i -t <<MAIL
To: $to
Subject: ${flag}[poc247 $POC247_PARTY] $POC247_EVENT_TYPE $case
X-Poc247-Event: $POC247_EVENT_TYPE
X-Poc247-Seq: $POC247_EVENT_SEQ

poc247 node $POC247_PARTY: $POC247_EVENT_TYPE
case:    $case ${POC247_CASE_KIND:-} ${urgency}
message: ${POC247_MESSAGE_ID:--}
event:   seq $POC247_EVENT_SEQ at $POC247_EVENT_AT (Unix ms)

Details: poc247 show $case
MAIL
