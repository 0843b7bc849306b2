//! Where hyalto keeps its data, and the optional `config.toml` in that folder.
//!
//! The data dir is chosen, first match wins, by `--data-dir DIR`, the `HYALTO_DATA_DIR`
//! environment variable, `$XDG_DATA_HOME/hyalto`, and `~/.local/share/hyalto`.
//!
//! `config.toml` in the data dir is optional; every setting has a default, and the file only
//! needs the settings that differ. Unknown keys are refused so that a typo never silently
//! falls back to a default. The documented example is in docs/cli.md ("Configuration").

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use hyalto_domain::{BillingUnit, MeteringRules, Rounding};
use rust_decimal::Decimal;
use serde::Deserialize;

/// The name of the configuration file inside the data dir.
pub const CONFIG_FILE_NAME: &str = "config.toml";

/// The environment variable that chooses the data dir when `--data-dir` is not given.
pub const DATA_DIR_ENV: &str = "HYALTO_DATA_DIR";

/// The default template for child agreement names.
pub const DEFAULT_AGREEMENT_NAME_TEMPLATE: &str = "{kind}: {service}";

/// The placeholders a child agreement name template may use.
pub const TEMPLATE_PLACEHOLDERS: [&str; 4] = ["{customer}", "{kind}", "{service}", "{service_id}"];

/// The data dir when neither `--data-dir` nor `HYALTO_DATA_DIR` names one:
/// `$XDG_DATA_HOME/hyalto`, else `$HOME/.local/share/hyalto`.
pub fn default_data_dir() -> anyhow::Result<PathBuf> {
    if let Some(xdg) = std::env::var_os("XDG_DATA_HOME").filter(|value| !value.is_empty()) {
        return Ok(PathBuf::from(xdg).join("hyalto"));
    }
    match std::env::var_os("HOME").filter(|value| !value.is_empty()) {
        Some(home) => Ok(PathBuf::from(home).join(".local/share/hyalto")),
        None => bail!(
            "cannot choose a data dir: neither XDG_DATA_HOME nor HOME is set; pass --data-dir DIR \
             or set {DATA_DIR_ENV}"
        ),
    }
}

/// The effective configuration: the file's settings over the defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// How resources become billed quantities.
    pub rules: MeteringRules,
    /// The zone calendar dates (start, effective and cancelled dates) are computed in.
    pub billing_tz: chrono_tz::Tz,
    /// The share of a customer's services that may vanish in one sync before the cancellations
    /// are held for confirmation.
    pub removal_hold_share: Decimal,
    /// A quantity change whose larger side is more than this many times the smaller one (and
    /// more than `change_hold_min_units` apart) is held for confirmation.
    pub change_hold_factor: Decimal,
    /// The difference, in billing units, a change must exceed to be held by the factor.
    pub change_hold_min_units: Decimal,
    /// Quantities above these (vCPUs, RAM and storage in billing units) are held, first or not.
    pub ceilings: hyalto_sync::Ceilings,
    /// Customers synced at once.
    pub concurrency: usize,
    /// The name of each child agreement.
    pub agreement_name_template: String,
    /// How often `hyalto serve` syncs every mapped customer; `None` only on demand.
    pub sync_interval: Option<std::time::Duration>,
    /// Which settings came from the file rather than the defaults, by `section.key`.
    pub from_file: Vec<&'static str>,
    /// The file that was read, if there was one.
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            rules: MeteringRules::default(),
            billing_tz: chrono_tz::UTC,
            removal_hold_share: Decimal::new(5, 1),
            change_hold_factor: Decimal::TEN,
            change_hold_min_units: Decimal::ONE_HUNDRED,
            ceilings: hyalto_sync::Ceilings::default(),
            concurrency: 4,
            agreement_name_template: DEFAULT_AGREEMENT_NAME_TEMPLATE.to_owned(),
            sync_interval: Some(std::time::Duration::from_secs(3600)),
            from_file: Vec::new(),
            file: None,
        }
    }
}

/// The file as written; every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    #[serde(default)]
    metering: MeteringSection,
    #[serde(default)]
    sync: SyncSection,
    #[serde(default)]
    server: ServerSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerSection {
    sync_interval: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct MeteringSection {
    memory_unit: Option<String>,
    storage_unit: Option<String>,
    rounding: Option<String>,
    rounding_increment: Option<toml::Value>,
    bill_powered_off: Option<bool>,
    storage_basis: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncSection {
    billing_timezone: Option<String>,
    removal_hold_share: Option<toml::Value>,
    change_hold_factor: Option<toml::Value>,
    change_hold_min_units: Option<toml::Value>,
    max_cpu: Option<toml::Value>,
    max_ram: Option<toml::Value>,
    max_storage: Option<toml::Value>,
    max_cpu_ghz: Option<toml::Value>,
    max_public_ip: Option<toml::Value>,
    max_other: Option<toml::Value>,
    concurrency: Option<i64>,
    agreement_name_template: Option<String>,
}

impl Config {
    /// Reads `config.toml` from `data_dir`; a missing file gives the defaults.
    pub fn load(data_dir: &Path) -> anyhow::Result<Config> {
        let path = data_dir.join(CONFIG_FILE_NAME);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Config::default());
            }
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("could not read {}; check its permissions", path.display())
                });
            }
        };

        let mut config = Config::parse(&text).with_context(|| {
            format!(
                "{} is not a valid hyalto configuration; correct it (see docs/cli.md, \
                 \"Configuration\") or remove it to use the defaults",
                path.display()
            )
        })?;
        config.file = Some(path);
        Ok(config)
    }

    /// Parses the text of a configuration file over the defaults.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let file: FileConfig =
            toml::from_str(text).map_err(|error| anyhow::anyhow!(toml_problem(text, &error)))?;
        let mut config = Config::default();

        let metering = file.metering;
        if let Some(unit) = metering.memory_unit {
            config.rules.memory_unit = billing_unit("metering.memory_unit", &unit)?;
            config.from_file.push("metering.memory_unit");
        }
        if let Some(unit) = metering.storage_unit {
            config.rules.storage_unit = billing_unit("metering.storage_unit", &unit)?;
            config.from_file.push("metering.storage_unit");
        }
        let increment = match metering.rounding_increment {
            Some(value) => {
                config.from_file.push("metering.rounding_increment");
                decimal("metering.rounding_increment", &value)?
            }
            None => config.rules.rounding.increment(),
        };
        config.rules.rounding = match metering.rounding.as_deref() {
            None | Some("up") => Rounding::Up { increment },
            Some("nearest") => Rounding::Nearest { increment },
            Some(other) => bail!(
                "metering.rounding = {other:?} is not a rounding rule; write \"up\" (the default: \
                 any started unit bills) or \"nearest\""
            ),
        };
        if metering.rounding.is_some() {
            config.from_file.push("metering.rounding");
        }
        if let Some(bill) = metering.bill_powered_off {
            config.rules.bill_powered_off = bill;
            config.from_file.push("metering.bill_powered_off");
        }
        if let Some(basis) = metering.storage_basis {
            if basis != "provisioned" {
                bail!(
                    "metering.storage_basis = {basis:?} is not supported; \"provisioned\" is the \
                     only storage basis for now"
                );
            }
            config.from_file.push("metering.storage_basis");
        }
        config
            .rules
            .validate()
            .context("metering.rounding_increment is not usable")?;

        let sync = file.sync;
        if let Some(zone) = sync.billing_timezone {
            config.billing_tz = zone.parse().map_err(|_| {
                anyhow::anyhow!(
                    "sync.billing_timezone = {zone:?} is not an IANA time zone; write a name such \
                     as \"UTC\", \"Europe/Amsterdam\" or \"America/Chicago\""
                )
            })?;
            config.from_file.push("sync.billing_timezone");
        }
        if let Some(value) = sync.removal_hold_share {
            let share = decimal("sync.removal_hold_share", &value)?;
            if share < Decimal::ZERO || share > Decimal::ONE {
                bail!(
                    "sync.removal_hold_share = {share} is outside 0 to 1; write a share such as \
                     0.5 (hold when more than half of a customer's services vanish at once)"
                );
            }
            config.removal_hold_share = share;
            config.from_file.push("sync.removal_hold_share");
        }
        if let Some(value) = sync.change_hold_factor {
            let factor = decimal("sync.change_hold_factor", &value)?;
            if factor <= Decimal::ONE {
                bail!(
                    "sync.change_hold_factor = {factor} must be greater than 1; write a ratio \
                     such as 10 (hold a quantity that grows or shrinks more than tenfold)"
                );
            }
            config.change_hold_factor = factor;
            config.from_file.push("sync.change_hold_factor");
        }
        if let Some(value) = sync.change_hold_min_units {
            let units = decimal("sync.change_hold_min_units", &value)?;
            if units < Decimal::ZERO {
                bail!(
                    "sync.change_hold_min_units = {units} is negative; write a number of billing \
                     units such as 100"
                );
            }
            config.change_hold_min_units = units;
            config.from_file.push("sync.change_hold_min_units");
        }
        for (key, value, ceiling) in [
            ("sync.max_cpu", sync.max_cpu, &mut config.ceilings.cpu),
            ("sync.max_ram", sync.max_ram, &mut config.ceilings.ram),
            (
                "sync.max_storage",
                sync.max_storage,
                &mut config.ceilings.storage,
            ),
            (
                "sync.max_cpu_ghz",
                sync.max_cpu_ghz,
                &mut config.ceilings.cpu_ghz,
            ),
            (
                "sync.max_public_ip",
                sync.max_public_ip,
                &mut config.ceilings.public_ip,
            ),
            ("sync.max_other", sync.max_other, &mut config.ceilings.other),
        ] {
            let Some(value) = value else {
                continue;
            };
            let limit = decimal(key, &value)?;
            if limit <= Decimal::ZERO {
                bail!(
                    "{key} = {limit} must be above 0; write the largest quantity one service \
                     can really bill, in billing units (quantities above it are held)"
                );
            }
            *ceiling = limit;
            config.from_file.push(key);
        }
        if let Some(concurrency) = sync.concurrency {
            if !(1..=64).contains(&concurrency) {
                bail!(
                    "sync.concurrency = {concurrency} is outside 1 to 64; write how many \
                     customers to sync at once, such as 4"
                );
            }
            config.concurrency = concurrency as usize;
            config.from_file.push("sync.concurrency");
        }
        if let Some(template) = sync.agreement_name_template {
            check_template(&template)?;
            config.agreement_name_template = template;
            config.from_file.push("sync.agreement_name_template");
        }

        if let Some(text) = file.server.sync_interval {
            config.sync_interval = sync_interval(&text)?;
            config.from_file.push("server.sync_interval");
        }

        Ok(config)
    }

    /// Whether `key` (`section.key`) was set by the file.
    pub fn is_from_file(&self, key: &str) -> bool {
        self.from_file.contains(&key)
    }
}

/// toml's error as one line: where (line, column and the line's text) and toml's own message.
///
/// toml's `Display` draws the line with a caret under it over several lines; an error line of
/// hyalto's reads better with the place and the reason side by side.
fn toml_problem(text: &str, error: &toml::de::Error) -> String {
    let message = error
        .message()
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join("; ");
    let Some(span) = error.span() else {
        return message;
    };
    let before = &text[..span.start.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.chars().rev().take_while(|c| *c != '\n').count() + 1;
    let source_line = text.lines().nth(line - 1).unwrap_or_default().trim();
    let hint = if message.starts_with("duplicate key") && source_line.starts_with('[') {
        format!(" (the table {source_line} appears twice: merge its keys into one {source_line})")
    } else {
        String::new()
    };
    format!("line {line}, column {column} (`{source_line}`): {message}{hint}")
}

fn billing_unit(key: &str, text: &str) -> anyhow::Result<BillingUnit> {
    match text {
        "GiB" => Ok(BillingUnit::Gib),
        "GB" => Ok(BillingUnit::Gb),
        other => bail!(
            "{key} = {other:?} is not a billing unit; write \"GiB\" (2^30 bytes, the default) or \
             \"GB\" (10^9 bytes)"
        ),
    }
}

/// Reads a decimal written as a TOML number or string, exactly as written.
fn decimal(key: &str, value: &toml::Value) -> anyhow::Result<Decimal> {
    let text = match value {
        toml::Value::Integer(number) => number.to_string(),
        toml::Value::Float(number) => number.to_string(),
        toml::Value::String(text) => text.clone(),
        other => bail!("{key} = {other} is not a number; write a number such as 0.5"),
    };
    text.trim()
        .parse::<Decimal>()
        .or_else(|_| Decimal::from_scientific(text.trim()))
        .map_err(|_| anyhow::anyhow!("{key} = {text:?} is not a number; write one such as 0.5"))
}

/// Refuses a template that names an unknown placeholder or none that tells services apart.
fn check_template(template: &str) -> anyhow::Result<()> {
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        let Some(length) = rest[start..].find('}') else {
            bail!(
                "sync.agreement_name_template {template:?} has a `{{` without a closing `}}`; \
                 placeholders are {}",
                TEMPLATE_PLACEHOLDERS.join(" ")
            );
        };
        let placeholder = &rest[start..start + length + 1];
        if !TEMPLATE_PLACEHOLDERS.contains(&placeholder) {
            bail!(
                "sync.agreement_name_template uses {placeholder}, which is not a placeholder; use \
                 {}",
                TEMPLATE_PLACEHOLDERS.join(" ")
            );
        }
        rest = &rest[start + length + 1..];
    }
    if !template.contains("{service}") && !template.contains("{service_id}") {
        bail!(
            "sync.agreement_name_template {template:?} names no service; include {{service}} or \
             {{service_id}} so each child agreement can be told apart"
        );
    }
    Ok(())
}

impl fmt::Display for Config {
    /// Renders the effective configuration as a `config.toml`, marking defaults.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let origin = |key: &str| {
            if self.is_from_file(key) {
                "# from config.toml"
            } else {
                "# default"
            }
        };
        let unit = |unit: BillingUnit| match unit {
            BillingUnit::Gib => "GiB",
            BillingUnit::Gb => "GB",
        };
        let rounding = match self.rules.rounding {
            Rounding::Up { .. } => "up",
            Rounding::Nearest { .. } => "nearest",
        };

        writeln!(f, "[metering]")?;
        let memory = format!("memory_unit = \"{}\"", unit(self.rules.memory_unit));
        writeln!(f, "{memory:<44} {}", origin("metering.memory_unit"))?;
        let storage = format!("storage_unit = \"{}\"", unit(self.rules.storage_unit));
        writeln!(f, "{storage:<44} {}", origin("metering.storage_unit"))?;
        let rule = format!("rounding = \"{rounding}\"");
        writeln!(f, "{rule:<44} {}", origin("metering.rounding"))?;
        let increment = format!(
            "rounding_increment = {}",
            self.rules.rounding.increment().normalize()
        );
        writeln!(
            f,
            "{increment:<44} {}",
            origin("metering.rounding_increment")
        )?;
        let powered = format!("bill_powered_off = {}", self.rules.bill_powered_off);
        writeln!(f, "{powered:<44} {}", origin("metering.bill_powered_off"))?;
        let basis = "storage_basis = \"provisioned\"";
        writeln!(f, "{basis:<44} {}", origin("metering.storage_basis"))?;

        writeln!(f)?;
        writeln!(f, "[sync]")?;
        let zone = format!("billing_timezone = \"{}\"", self.billing_tz.name());
        writeln!(f, "{zone:<44} {}", origin("sync.billing_timezone"))?;
        let share = format!(
            "removal_hold_share = {}",
            self.removal_hold_share.normalize()
        );
        writeln!(f, "{share:<44} {}", origin("sync.removal_hold_share"))?;
        let factor = format!(
            "change_hold_factor = {}",
            self.change_hold_factor.normalize()
        );
        writeln!(f, "{factor:<44} {}", origin("sync.change_hold_factor"))?;
        let units = format!(
            "change_hold_min_units = {}",
            self.change_hold_min_units.normalize()
        );
        writeln!(f, "{units:<44} {}", origin("sync.change_hold_min_units"))?;
        let concurrency = format!("concurrency = {}", self.concurrency);
        writeln!(f, "{concurrency:<44} {}", origin("sync.concurrency"))?;
        let template = format!(
            "agreement_name_template = {}",
            toml::Value::String(self.agreement_name_template.clone())
        );
        writeln!(
            f,
            "{template:<44} {}",
            origin("sync.agreement_name_template")
        )?;

        writeln!(f)?;
        writeln!(f, "[server]")?;
        let interval = match self.sync_interval {
            None => "off".to_owned(),
            Some(interval) if interval.as_secs() % 3600 == 0 => {
                format!("{}h", interval.as_secs() / 3600)
            }
            Some(interval) => format!("{}m", interval.as_secs() / 60),
        };
        let interval = format!("sync_interval = \"{interval}\"");
        writeln!(f, "{interval:<44} {}", origin("server.sync_interval"))
    }
}

/// Reads `server.sync_interval`: `off`, or a whole number of minutes or hours (`15m`, `1h`).
fn sync_interval(text: &str) -> anyhow::Result<Option<std::time::Duration>> {
    let trimmed = text.trim();
    if trimmed == "off" {
        return Ok(None);
    }
    let (number, unit) = trimmed.split_at(trimmed.len().saturating_sub(1));
    let seconds = match (number.parse::<u64>(), unit) {
        (Ok(n), "m") => n * 60,
        (Ok(n), "h") => n * 3600,
        _ => bail!(
            "server.sync_interval = {text:?} is not an interval; write minutes or hours such as \
             \"15m\" or \"1h\", or \"off\" to sync only when asked"
        ),
    };
    if seconds < 60 {
        bail!("server.sync_interval = {text:?} is shorter than a minute; write at least \"1m\"");
    }
    Ok(Some(std::time::Duration::from_secs(seconds)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_file_gives_the_documented_defaults() {
        let config = Config::parse("").unwrap();

        assert_eq!(config.rules, MeteringRules::default());
        assert_eq!(config.billing_tz, chrono_tz::UTC);
        assert_eq!(config.removal_hold_share, Decimal::new(5, 1));
        assert_eq!(config.concurrency, 4);
        assert_eq!(config.agreement_name_template, "{kind}: {service}");
        assert!(config.from_file.is_empty());
    }

    #[test]
    fn the_server_sync_interval_takes_minutes_hours_or_off() {
        let every = |text: &str| {
            Config::parse(&format!("[server]\nsync_interval = \"{text}\"\n"))
                .map(|config| config.sync_interval)
        };

        assert_eq!(
            Config::parse("").unwrap().sync_interval,
            Some(std::time::Duration::from_secs(3600))
        );
        assert_eq!(
            every("15m").unwrap(),
            Some(std::time::Duration::from_secs(900))
        );
        assert_eq!(
            every("2h").unwrap(),
            Some(std::time::Duration::from_secs(7200))
        );
        assert_eq!(every("off").unwrap(), None);
        let error = format!("{:#}", every("90s").unwrap_err());
        assert!(error.contains("\"15m\""), "{error}");
        assert!(every("0m").is_err());
    }

    #[test]
    fn settings_in_the_file_replace_the_defaults_exactly() {
        let config = Config::parse(
            "[metering]\nmemory_unit = \"GB\"\nrounding = \"nearest\"\nrounding_increment = 0.5\n\
             [sync]\nbilling_timezone = \"Pacific/Kiritimati\"\nremoval_hold_share = \"0.25\"\n",
        )
        .unwrap();

        assert_eq!(config.rules.memory_unit, BillingUnit::Gb);
        assert_eq!(
            config.rules.rounding,
            Rounding::Nearest {
                increment: Decimal::new(5, 1)
            }
        );
        assert_eq!(config.billing_tz, chrono_tz::Pacific::Kiritimati);
        assert_eq!(config.removal_hold_share, Decimal::new(25, 2));
        assert!(config.is_from_file("metering.memory_unit"));
        assert!(!config.is_from_file("metering.storage_unit"));
    }

    #[test]
    fn the_change_hold_settings_are_read_and_checked() {
        let config =
            Config::parse("[sync]\nchange_hold_factor = 20\nchange_hold_min_units = 50\n").unwrap();
        let factor = Config::parse("[sync]\nchange_hold_factor = 1\n").unwrap_err();

        assert_eq!(Config::default().change_hold_factor, Decimal::TEN);
        assert_eq!(config.change_hold_factor, Decimal::from(20));
        assert_eq!(config.change_hold_min_units, Decimal::from(50));
        assert!(config.to_string().contains("change_hold_min_units = 50"));
        assert!(format!("{factor:#}").contains("greater than 1"));
    }

    #[test]
    fn a_duplicate_table_is_named_with_its_line_and_toml_s_message_on_one_line() {
        let error = Config::parse("[sync]\nconcurrency = 2\n[sync]\nconcurrency = 3\n")
            .unwrap_err()
            .to_string();

        assert!(error.starts_with("line 3, column "), "{error}");
        assert!(error.contains("`[sync]`"), "{error}");
        assert!(error.contains("duplicate key"), "{error}");
        assert!(!error.contains('\n'), "{error}");
    }

    #[test]
    fn a_misspelt_key_is_refused_rather_than_ignored() {
        let error = Config::parse("[metering]\nmemory_units = \"GB\"\n").unwrap_err();

        assert!(format!("{error:#}").contains("memory_units"));
    }

    #[test]
    fn bad_values_say_what_to_write_instead() {
        let zone = Config::parse("[sync]\nbilling_timezone = \"Mars/Olympus\"\n").unwrap_err();
        let unit = Config::parse("[metering]\nstorage_unit = \"gb\"\n").unwrap_err();
        let increment = Config::parse("[metering]\nrounding_increment = 0\n").unwrap_err();
        let template = Config::parse("[sync]\nagreement_name_template = \"{nope}\"\n").unwrap_err();

        assert!(format!("{zone:#}").contains("IANA"));
        assert!(format!("{unit:#}").contains("\"GiB\""));
        assert!(format!("{increment:#}").contains("greater than zero"));
        assert!(format!("{template:#}").contains("{nope}"));
    }

    #[test]
    fn the_rendered_configuration_parses_back_to_itself() {
        let config = Config::parse(
            "[metering]\nbill_powered_off = false\n[sync]\nconcurrency = 2\n\
             agreement_name_template = \"{customer} – {service}\"\n",
        )
        .unwrap();

        let rendered = config.to_string();
        let again = Config::parse(&rendered).unwrap();

        assert_eq!(again.rules, config.rules);
        assert_eq!(again.concurrency, 2);
        assert_eq!(
            again.agreement_name_template,
            config.agreement_name_template
        );
        assert!(rendered.contains("bill_powered_off = false"));
    }
}
