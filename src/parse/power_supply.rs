//! `/sys/class/power_supply/*/`: batteries of tablets and laptops.
//!
//! Every supply's `uevent` file lists all its properties as `POWER_SUPPLY_KEY=value`, so
//! one read per supply is enough; when `uevent` is missing, the collector reads the
//! per-property files (`type`, `capacity`...) instead and feeds them here under the same
//! lower-case names. Drivers differ in what they expose (ACPI batteries report energy in
//! µWh, many ARM fuel gauges report charge in µAh, some neither), so every field is
//! optional and only present ones are serialized.

pub use crate::wire::inventory::Battery;

/// The properties of one supply: lower-case name without the `POWER_SUPPLY_` prefix
/// (the sysfs file name), and the trimmed value.
pub type Props = Vec<(String, String)>;

/// Reads a `uevent` file. Lines that are not `POWER_SUPPLY_*=value` are ignored.
pub fn uevent(text: &str) -> Props {
    text.lines()
        .filter_map(|line| {
            let (key, value) = line.split_once('=')?;
            let key = key.trim().strip_prefix("POWER_SUPPLY_")?;
            Some((key.to_ascii_lowercase(), value.trim().to_owned()))
        })
        .collect()
}

/// The property files worth reading when there is no `uevent` (sysfs names).
pub const FILES: &[&str] = &[
    "type",
    "scope",
    "present",
    "status",
    "health",
    "capacity",
    "cycle_count",
    "technology",
    "manufacturer",
    "model_name",
    "energy_full",
    "energy_full_design",
    "charge_full",
    "charge_full_design",
];

/// The battery described by `props`, or `None` when the supply is not a battery of the
/// device itself (mains and USB supplies, and `scope=Device` batteries: a wireless
/// mouse or a stylus).
pub fn battery(name: &str, props: &Props) -> Option<Battery> {
    let get = |key: &str| {
        props
            .iter()
            .rev() // the last value wins, as with repeated uevent keys
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let text = |key: &str| get(key).map(str::to_owned);
    let num = |key: &str| get(key).and_then(|v| v.parse::<u64>().ok());
    if !get("type")?.eq_ignore_ascii_case("battery") {
        return None;
    }
    if get("scope").is_some_and(|s| s.eq_ignore_ascii_case("device")) {
        return None;
    }
    let energy = (num("energy_full"), num("energy_full_design"));
    let charge = (num("charge_full"), num("charge_full_design"));
    let wear = wear(energy).or_else(|| wear(charge));
    Some(Battery {
        name: name.to_owned(),
        present: get("present").map(|v| v != "0"),
        capacity_percent: num("capacity").map(|c| c.min(100) as u8),
        status: text("status"),
        health: text("health"),
        cycle_count: num("cycle_count").and_then(|c| u32::try_from(c).ok()),
        technology: text("technology"),
        manufacturer: text("manufacturer"),
        model_name: text("model_name"),
        energy_full_uwh: energy.0,
        energy_full_design_uwh: energy.1,
        charge_full_uah: charge.0,
        charge_full_design_uah: charge.1,
        wear_percent: wear,
    })
}

/// Lost capacity in percent, one decimal; `None` without both figures or a zero design.
fn wear((full, design): (Option<u64>, Option<u64>)) -> Option<f64> {
    let (full, design) = (full? as f64, design? as f64);
    if design <= 0.0 {
        return None;
    }
    let lost = (1.0 - full / design).max(0.0) * 100.0;
    Some((lost * 10.0).round() / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ACPI battery of an Intel Atom (Cherry Trail) Windows-tablet running Debian.
    const ATOM_TABLET_BAT0: &str = "\
POWER_SUPPLY_NAME=BAT0
POWER_SUPPLY_TYPE=Battery
POWER_SUPPLY_STATUS=Discharging
POWER_SUPPLY_PRESENT=1
POWER_SUPPLY_TECHNOLOGY=Li-ion
POWER_SUPPLY_CYCLE_COUNT=0
POWER_SUPPLY_VOLTAGE_MIN_DESIGN=3800000
POWER_SUPPLY_VOLTAGE_NOW=3936000
POWER_SUPPLY_POWER_NOW=3116000
POWER_SUPPLY_ENERGY_FULL_DESIGN=31350000
POWER_SUPPLY_ENERGY_FULL=27740000
POWER_SUPPLY_ENERGY_NOW=15020000
POWER_SUPPLY_CAPACITY=54
POWER_SUPPLY_CAPACITY_LEVEL=Normal
POWER_SUPPLY_MODEL_NAME=SR Real Battery
POWER_SUPPLY_MANUFACTURER=Intel SR 1
POWER_SUPPLY_SERIAL_NUMBER=123456789
";

    /// Rockchip RK817 fuel gauge of an ARM tablet: charge in µAh, health, no energy.
    const ARM_TABLET_RK817: &str = "\
DEVTYPE=power_supply
OF_NAME=battery
OF_FULLNAME=/i2c@fdd40000/pmic@20/battery
OF_COMPATIBLE_N=0
POWER_SUPPLY_NAME=rk817-battery
POWER_SUPPLY_TYPE=Battery
POWER_SUPPLY_CHARGE_TYPE=Fast
POWER_SUPPLY_CHARGE_FULL=5200000
POWER_SUPPLY_CHARGE_FULL_DESIGN=6000000
POWER_SUPPLY_CHARGE_NOW=4056000
POWER_SUPPLY_STATUS=Charging
POWER_SUPPLY_PRESENT=1
POWER_SUPPLY_HEALTH=Good
POWER_SUPPLY_VOLTAGE_AVG=4012000
POWER_SUPPLY_CAPACITY=78
POWER_SUPPLY_TECHNOLOGY=Li-ion
";

    #[test]
    fn atom_tablet_acpi_battery() {
        let b = battery("BAT0", &uevent(ATOM_TABLET_BAT0)).unwrap();
        assert_eq!(b.capacity_percent, Some(54));
        assert_eq!(b.status.as_deref(), Some("Discharging"));
        assert_eq!(b.present, Some(true));
        assert_eq!(b.cycle_count, Some(0));
        assert_eq!(b.technology.as_deref(), Some("Li-ion"));
        assert_eq!(b.energy_full_uwh, Some(27_740_000));
        assert_eq!(b.energy_full_design_uwh, Some(31_350_000));
        assert_eq!(b.charge_full_uah, None);
        assert_eq!(b.health, None);
        // 1 - 27.74 / 31.35 = 11.5 %
        assert_eq!(b.wear_percent, Some(11.5));
        let json = serde_json::to_value(&b).unwrap();
        assert!(json.get("health").is_none(), "absent fields are left out");
        assert!(json.get("serial_number").is_none());
    }

    #[test]
    fn arm_tablet_fuel_gauge_with_charge_figures() {
        let b = battery("rk817-battery", &uevent(ARM_TABLET_RK817)).unwrap();
        assert_eq!(b.health.as_deref(), Some("Good"));
        assert_eq!(b.capacity_percent, Some(78));
        assert_eq!(b.charge_full_uah, Some(5_200_000));
        assert_eq!(b.energy_full_uwh, None);
        assert_eq!(b.wear_percent, Some(13.3));
        assert_eq!(b.cycle_count, None);
    }

    #[test]
    fn mains_and_peripheral_batteries_are_not_the_device_battery() {
        let mains =
            uevent("POWER_SUPPLY_NAME=AC\nPOWER_SUPPLY_TYPE=Mains\nPOWER_SUPPLY_ONLINE=1\n");
        assert_eq!(battery("AC", &mains), None);
        let mouse = uevent(
            "POWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_SCOPE=Device\nPOWER_SUPPLY_CAPACITY=40\n",
        );
        assert_eq!(battery("hid-00:1f:20:aa:bb:cc-battery", &mouse), None);
        assert_eq!(battery("x", &uevent("")), None);
    }

    #[test]
    fn new_battery_above_design_has_no_wear_and_garbage_is_absent() {
        let props = uevent(
            "POWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_ENERGY_FULL=32000000\n\
             POWER_SUPPLY_ENERGY_FULL_DESIGN=31350000\nPOWER_SUPPLY_CAPACITY=abc\n\
             POWER_SUPPLY_CHARGE_FULL_DESIGN=0\nPOWER_SUPPLY_CHARGE_FULL=10\n",
        );
        let b = battery("BAT1", &props).unwrap();
        assert_eq!(b.wear_percent, Some(0.0));
        assert_eq!(b.capacity_percent, None);
        let zero_design = uevent(
            "POWER_SUPPLY_TYPE=Battery\nPOWER_SUPPLY_CHARGE_FULL_DESIGN=0\nPOWER_SUPPLY_CHARGE_FULL=10\n",
        );
        assert_eq!(battery("BAT1", &zero_design).unwrap().wear_percent, None);
    }
}
