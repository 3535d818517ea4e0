//! The invitation life cycle (api-contract.md §5.1): which status changes an
//! admin may ask for, and what each one means.

use crate::Invalid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Canceled,
    /// A PENDING invitation past its expiry; never stored, always derived.
    Expired,
}

impl InvitationStatus {
    pub const ALL: [InvitationStatus; 4] = [Self::Pending, Self::Accepted, Self::Canceled, Self::Expired];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Accepted => "ACCEPTED",
            Self::Canceled => "CANCELED",
            Self::Expired => "EXPIRED",
        }
    }

    pub fn parse(field: &'static str, s: &str) -> Result<Self, Invalid> {
        Self::ALL.into_iter().find(|v| v.as_str() == s).ok_or_else(|| {
            Invalid::new(
                field,
                format!("unknown status {s:?}; allowed: PENDING, ACCEPTED, CANCELED, EXPIRED"),
            )
        })
    }
}

/// What an allowed status change does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// PENDING to CANCELED: the link stops working.
    Cancel,
    /// PENDING to PENDING: mail again, with a new link (the old one dies).
    Resend,
    /// CANCELED or EXPIRED to PENDING: live again, with a new link and expiry.
    Reactivate,
}

/// The change from `current` to `requested`, or why it is refused.
pub fn transition(current: InvitationStatus, requested: InvitationStatus) -> Result<Transition, Invalid> {
    use InvitationStatus::*;
    match (current, requested) {
        (Pending, Canceled) => Ok(Transition::Cancel),
        (Pending, Pending) => Ok(Transition::Resend),
        (Canceled | Expired, Pending) => Ok(Transition::Reactivate),
        (Accepted, _) => Err(Invalid::new("status", "the invitation was accepted; that is final")),
        (from, to) => Err(Invalid::new(
            "status",
            format!("an invitation cannot go from {} to {}", from.as_str(), to.as_str()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use InvitationStatus::*;

    #[test]
    fn only_the_contracts_transitions_are_allowed() {
        let mut allowed = vec![];
        for from in InvitationStatus::ALL {
            for to in InvitationStatus::ALL {
                if let Ok(t) = transition(from, to) {
                    allowed.push((from, to, t));
                }
            }
        }
        assert_eq!(
            allowed,
            [
                (Pending, Pending, Transition::Resend),
                (Pending, Canceled, Transition::Cancel),
                (Canceled, Pending, Transition::Reactivate),
                (Expired, Pending, Transition::Reactivate),
            ]
        );
        assert!(transition(Accepted, Pending).unwrap_err().message.contains("final"));
    }

    #[test]
    fn statuses_round_trip() {
        for s in InvitationStatus::ALL {
            assert_eq!(InvitationStatus::parse("status", s.as_str()), Ok(s));
        }
        assert!(InvitationStatus::parse("status", "pending").is_err());
    }
}
