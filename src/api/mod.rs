//! The station's interface, below the station: the commands it takes, its handle, what
//! its status says and who opens the door. The web page, home automation, the control
//! socket and the command line speak to a station only through this module.

pub mod command;
pub mod loop_watch;
pub mod loopback;
pub mod status;

pub use command::{Command, Exchange, Opener, PairingCommand, StationError, StationHandle, TextCommand};
pub use loop_watch::LoopWatch;
pub use status::{
    LegCounts, LiveViewStatus, MqttStatus, NeighbourStatus, PairingStatus, SecurityStatus, Status, TextMessage,
    WebAnswerStatus,
};
