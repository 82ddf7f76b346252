//! Who made a change and from where: what events and the audit log say
//! about the request behind them.

/// Who acted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Actor {
    /// Latch itself (housekeeping, a worker), or a request not yet known to
    /// be anyone's.
    #[default]
    System,
    /// A visitor or a signed-in user, through the Frontend API.
    Frontend,
    /// An administrator, through the Backend API with the secret key.
    Backend,
    /// An operator, through the dashboard (which operator is the
    /// context's [`RequestContext::operator`]).
    Operator,
}

impl Actor {
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::System => "system",
            Self::Frontend => "frontend",
            Self::Backend => "backend",
            Self::Operator => "operator",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::System, Self::Frontend, Self::Backend, Self::Operator]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

/// The request a change is made for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestContext {
    pub actor: Actor,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// The signed-in operator behind a dashboard request.
    pub operator: Option<super::UserId>,
}

impl RequestContext {
    /// A request from `client_ip` with `user_agent` (cut as a session's
    /// origin keeps it).
    pub fn of_request(actor: Actor, client_ip: Option<String>, user_agent: Option<&str>) -> Self {
        let origin = super::SessionOrigin::of_request(client_ip, user_agent);
        Self {
            actor,
            client_ip: origin.ip_address,
            user_agent: origin.user_agent,
            operator: None,
        }
    }

    /// The same request, made by `operator` through the dashboard.
    pub fn by_operator(self, operator: super::UserId) -> Self {
        Self {
            actor: Actor::Operator,
            operator: Some(operator),
            ..self
        }
    }
}
