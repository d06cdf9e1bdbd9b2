//! Exit codes, as a type: the three outcomes an operator (or a pod's restart
//! policy) needs to tell apart.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done: every stale lock found is gone (or there was nothing to do,
    /// including a state dir that does not exist yet on a fresh volume).
    Success,
    /// Some stale lock could not be removed, or some directory or candidate
    /// could not be read. The sweep went on; the logs say what failed.
    Failure,
    /// Bad usage or configuration: nothing was swept. 2 is what clap and
    /// most Unix tools use for usage errors.
    Usage,
    /// Wrapper mode: the command exists but could not be executed. 126 and
    /// 127 are what env(1), the shells and `docker run` use.
    CannotExec,
    /// Wrapper mode: the command was not found.
    NotFound,
}

impl From<ExitCode> for i32 {
    fn from(code: ExitCode) -> i32 {
        match code {
            ExitCode::Success => 0,
            ExitCode::Failure => 1,
            ExitCode::Usage => 2,
            ExitCode::CannotExec => 126,
            ExitCode::NotFound => 127,
        }
    }
}

impl ExitCode {
    /// `--best-effort`: a partial sweep is still a success (errors stay logged),
    /// so a pod is never held back by a file the sweeper could not handle.
    pub fn best_effort(self) -> ExitCode {
        match self {
            ExitCode::Failure => ExitCode::Success,
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        assert_eq!(i32::from(ExitCode::Success), 0);
        assert_eq!(i32::from(ExitCode::Failure), 1);
        assert_eq!(i32::from(ExitCode::Usage), 2);
        assert_eq!(i32::from(ExitCode::CannotExec), 126);
        assert_eq!(i32::from(ExitCode::NotFound), 127);
    }

    #[test]
    fn best_effort_only_forgives_failure() {
        use ExitCode::*;
        assert_eq!(Success.best_effort(), Success);
        assert_eq!(Failure.best_effort(), Success);
        assert_eq!(Usage.best_effort(), Usage);
    }
}
