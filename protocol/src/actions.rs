//! The actions on a case, one list for the control API and the command line: the name of
//! each (`POST /v1/cases/{case}/{name}`), the shorter command an officer types where there is
//! one (`poc247 ack` for `acknowledge`), and the message kind it sends (none for the actions
//! that only change this node's record). Either name is accepted by both ends.

use crate::body::MessageKind;

/// One action on a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Action {
    /// Its name in the control API, and a command of the CLI.
    pub name: &'static str,
    /// The CLI's shorter command for it, if it has one.
    pub command: Option<&'static str>,
    /// The message kind it sends; `None` for an action local to this node.
    pub kind: Option<MessageKind>,
}

const fn sends(name: &'static str, command: Option<&'static str>, kind: MessageKind) -> Action {
    Action {
        name,
        command,
        kind: Some(kind),
    }
}

const fn local(name: &'static str) -> Action {
    Action {
        name,
        command: None,
        kind: None,
    }
}

/// Every action on a case.
pub const ACTIONS: [Action; 28] = {
    use MessageKind as K;
    [
        sends("acknowledge", Some("ack"), K::Acknowledgement),
        sends("request-info", Some("ask"), K::InfoRequest),
        sends("provide-info", Some("answer"), K::InfoProvided),
        sends("request-status", Some("status-request"), K::StatusRequest),
        sends("report-status", Some("status-report"), K::StatusReport),
        sends("notify-delay", Some("delay"), K::DelayNotice),
        sends("confidentiality-reply", None, K::ConfidentialityReply),
        sends("proceed", None, K::Proceed),
        sends("decide", None, K::Decision),
        sends(
            "preservation-insufficient",
            None,
            K::PreservationInsufficient,
        ),
        sends("conditions", None, K::Conditions),
        sends("conditions-reply", None, K::ConditionsReply),
        sends("use-explanation-request", None, K::UseExplanationRequest),
        sends("use-explanation", None, K::UseExplanation),
        sends("use-consent-request", None, K::UseConsentRequest),
        sends("use-consent", None, K::UseConsent),
        sends("disclosure-notice", None, K::DisclosureNotice),
        sends("disclose-traffic", None, K::TrafficDataDisclosure),
        sends("results", None, K::Results),
        sends("confirm", None, K::FormalConfirmation),
        sends("extend", None, K::PreservationExtension),
        sends("release", None, K::PreservationRelease),
        sends("withdraw", None, K::Withdrawal),
        sends("send-information", None, K::SpontaneousInformation),
        local("close"),
        local("purge"),
        local("resend"),
        local("notified"),
    ]
};

impl Action {
    /// The action named `name` by the API or the CLI, in any case (`ack`, `Acknowledge`).
    pub fn find(name: &str) -> Option<&'static Action> {
        ACTIONS.iter().find(|a| {
            a.name.eq_ignore_ascii_case(name)
                || a.command.is_some_and(|c| c.eq_ignore_ascii_case(name))
        })
    }

    /// The action that sends `kind`.
    pub fn sending(kind: MessageKind) -> Option<&'static Action> {
        ACTIONS.iter().find(|a| a.kind == Some(kind))
    }

    /// The command an officer types for it.
    pub fn command(&self) -> &'static str {
        self.command.unwrap_or(self.name)
    }

    /// Every name either end accepts, API names first.
    pub fn names() -> Vec<&'static str> {
        let mut out: Vec<&'static str> = ACTIONS.iter().map(|a| a.name).collect();
        out.extend(ACTIONS.iter().filter_map(|a| a.command));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_name_is_one_action_and_each_response_kind_has_one() {
        let names = Action::names();
        let mut unique = names.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a name used twice");
        for kind in MessageKind::ALL.iter().filter(|k| !k.is_request()) {
            assert_eq!(
                ACTIONS.iter().filter(|a| a.kind == Some(*kind)).count(),
                1,
                "{kind}"
            );
        }
        assert_eq!(
            Action::find("ACK").map(|a| a.name),
            Some("acknowledge"),
            "the CLI's name, any case"
        );
        assert_eq!(Action::find("ask"), Action::find("request-info"));
        assert_eq!(Action::find("close").and_then(|a| a.kind), None);
        assert!(Action::find("acknowledged").is_none());
    }
}
