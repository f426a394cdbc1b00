//! The layouts a line may have and the options that choose among them: what the sink's
//! `--format` and the `ACCESSLAKE_LOG_FORMAT` variable (the sink's and the transform's) name,
//! read by [`crate::parse`].

/// Which layouts a line may have. `Auto` accepts all of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Format {
    #[default]
    Auto,
    /// NCSA common: `client ident user [time] "request" status bytes`.
    Common,
    /// NCSA combined: common plus `"referrer" "agent"` (and optional extra fields).
    Combined,
    /// Apache `vhost_combined`: `host[:port]` first, then combined.
    VhostCombined,
}

/// The name `--format` and `ACCESSLAKE_LOG_FORMAT` take.
impl std::fmt::Display for Format {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Format::Auto => "auto",
            Format::Common => "common",
            Format::Combined => "combined",
            Format::VhostCombined => "vhost_combined",
        })
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" | "" => Ok(Format::Auto),
            "common" | "clf" => Ok(Format::Common),
            "combined" => Ok(Format::Combined),
            "vhost_combined" | "vhost-combined" => Ok(Format::VhostCombined),
            other => Err(format!(
                "unknown log format {other:?} (expected auto, common, combined or vhost_combined)"
            )),
        }
    }
}

/// Parser options.
#[derive(Debug, Clone, Copy, Default)]
pub struct ParseOptions {
    /// Restricts the accepted layout; `Auto` accepts every supported layout.
    pub format: Format,
}
