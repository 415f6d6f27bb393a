//! A multitouch touchscreen (protocol B) made with uinput, for the emulated station: the
//! guest runs it and the host's test harness taps the screen through a FIFO.
//!
//!   vm-touchscreen FIFO
//!
//! Each line written to FIFO is `tap X Y` in the device's raw units (0..=4095 on both
//! axes, like a resistive or capacitive panel whose range differs from the screen's
//! pixels). The line is acknowledged by the tap being emitted; the FIFO is reopened
//! whenever its writer closes it.
use evdev::uinput::VirtualDevice;
use evdev::{AbsInfo, AbsoluteAxisCode, AttributeSet, EventType, InputEvent, KeyCode, PropType, UinputAbsSetup};
use std::io::BufRead;
use std::time::Duration;

const RANGE: i32 = 4095;

fn axis(code: AbsoluteAxisCode, max: i32) -> UinputAbsSetup {
    UinputAbsSetup::new(code, AbsInfo::new(0, 0, max, 0, 0, 0))
}

fn build() -> std::io::Result<VirtualDevice> {
    let mut keys = AttributeSet::<KeyCode>::new();
    keys.insert(KeyCode::BTN_TOUCH);
    let mut props = AttributeSet::<PropType>::new();
    props.insert(PropType::DIRECT);
    VirtualDevice::builder()?
        .name("doorway emulated touchscreen")
        .with_keys(&keys)?
        .with_properties(&props)?
        .with_absolute_axis(&axis(AbsoluteAxisCode::ABS_X, RANGE))?
        .with_absolute_axis(&axis(AbsoluteAxisCode::ABS_Y, RANGE))?
        .with_absolute_axis(&axis(AbsoluteAxisCode::ABS_MT_SLOT, 9))?
        .with_absolute_axis(&axis(AbsoluteAxisCode::ABS_MT_TRACKING_ID, 65535))?
        .with_absolute_axis(&axis(AbsoluteAxisCode::ABS_MT_POSITION_X, RANGE))?
        .with_absolute_axis(&axis(AbsoluteAxisCode::ABS_MT_POSITION_Y, RANGE))?
        .build()
}

fn abs(code: AbsoluteAxisCode, value: i32) -> InputEvent {
    InputEvent::new(EventType::ABSOLUTE.0, code.0, value)
}

fn tap(device: &mut VirtualDevice, id: i32, x: i32, y: i32) -> std::io::Result<()> {
    device.emit(&[
        abs(AbsoluteAxisCode::ABS_MT_SLOT, 0),
        abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, id),
        abs(AbsoluteAxisCode::ABS_MT_POSITION_X, x),
        abs(AbsoluteAxisCode::ABS_MT_POSITION_Y, y),
        InputEvent::new(EventType::KEY.0, KeyCode::BTN_TOUCH.0, 1),
        abs(AbsoluteAxisCode::ABS_X, x),
        abs(AbsoluteAxisCode::ABS_Y, y),
    ])?;
    std::thread::sleep(Duration::from_millis(80));
    device.emit(&[
        abs(AbsoluteAxisCode::ABS_MT_TRACKING_ID, -1),
        InputEvent::new(EventType::KEY.0, KeyCode::BTN_TOUCH.0, 0),
    ])
}

fn main() -> std::io::Result<()> {
    let fifo = std::env::args().nth(1).expect("usage: vm-touchscreen FIFO");
    let mut device = build()?;
    let mut id = 0;
    loop {
        let reader = std::io::BufReader::new(std::fs::File::open(&fifo)?);
        for line in reader.lines() {
            let line = line?;
            let words: Vec<&str> = line.split_whitespace().collect();
            match words.as_slice() {
                ["tap", x, y] => {
                    let (Ok(x), Ok(y)) = (x.parse(), y.parse()) else {
                        eprintln!("vm-touchscreen: bad coordinates in {line:?}");
                        continue;
                    };
                    id += 1;
                    tap(&mut device, id, x, y)?;
                }
                _ => eprintln!("vm-touchscreen: unknown command {line:?}"),
            }
        }
    }
}
