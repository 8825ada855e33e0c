//! The device category vocabulary of DESIGN.md §5.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Device category as reported in `devices[].category` (DESIGN.md §5).
///
/// Serialised in `snake_case` (`"voice_assistant"`, `"smart_plug"`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Camera,
    Doorbell,
    Speaker,
    VoiceAssistant,
    Tv,
    MediaPlayer,
    SmartPlug,
    Light,
    Hub,
    Thermostat,
    Sensor,
    Lock,
    Appliance,
    Printer,
    Nas,
    Router,
    AccessPoint,
    GameConsole,
    Wearable,
    Medical,
    Industrial,
    Phone,
    Computer,
    Server,
    Unknown,
}

impl Category {
    /// Every category, in DESIGN.md order.
    pub const ALL: [Category; 25] = [
        Category::Camera,
        Category::Doorbell,
        Category::Speaker,
        Category::VoiceAssistant,
        Category::Tv,
        Category::MediaPlayer,
        Category::SmartPlug,
        Category::Light,
        Category::Hub,
        Category::Thermostat,
        Category::Sensor,
        Category::Lock,
        Category::Appliance,
        Category::Printer,
        Category::Nas,
        Category::Router,
        Category::AccessPoint,
        Category::GameConsole,
        Category::Wearable,
        Category::Medical,
        Category::Industrial,
        Category::Phone,
        Category::Computer,
        Category::Server,
        Category::Unknown,
    ];

    /// The `snake_case` wire name (identical to the serde representation).
    pub const fn as_str(self) -> &'static str {
        match self {
            Category::Camera => "camera",
            Category::Doorbell => "doorbell",
            Category::Speaker => "speaker",
            Category::VoiceAssistant => "voice_assistant",
            Category::Tv => "tv",
            Category::MediaPlayer => "media_player",
            Category::SmartPlug => "smart_plug",
            Category::Light => "light",
            Category::Hub => "hub",
            Category::Thermostat => "thermostat",
            Category::Sensor => "sensor",
            Category::Lock => "lock",
            Category::Appliance => "appliance",
            Category::Printer => "printer",
            Category::Nas => "nas",
            Category::Router => "router",
            Category::AccessPoint => "access_point",
            Category::GameConsole => "game_console",
            Category::Wearable => "wearable",
            Category::Medical => "medical",
            Category::Industrial => "industrial",
            Category::Phone => "phone",
            Category::Computer => "computer",
            Category::Server => "server",
            Category::Unknown => "unknown",
        }
    }
}

impl fmt::Display for Category {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error returned by [`Category::from_str`] for a name outside the vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown device category {0:?}")]
pub struct ParseCategoryError(pub String);

impl FromStr for Category {
    type Err = ParseCategoryError;

    /// Parses the exact `snake_case` name (as produced by [`Category::as_str`]).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Category::ALL
            .iter()
            .copied()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| ParseCategoryError(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_str_and_serde() {
        for c in Category::ALL {
            assert_eq!(c.as_str().parse::<Category>().unwrap(), c);
            let json = serde_json::to_string(&c).unwrap();
            assert_eq!(json, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<Category>(&json).unwrap(), c);
        }
        assert!("Camera".parse::<Category>().is_err());
        assert!("smart-plug".parse::<Category>().is_err());
    }

    #[test]
    fn vocabulary_matches_design() {
        let names: Vec<&str> = Category::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names.join(", "),
            "camera, doorbell, speaker, voice_assistant, tv, media_player, smart_plug, light, \
             hub, thermostat, sensor, lock, appliance, printer, nas, router, access_point, \
             game_console, wearable, medical, industrial, phone, computer, server, unknown"
        );
    }
}
