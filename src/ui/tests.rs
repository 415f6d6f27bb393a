use super::*;
use crate::device::{FrameView, PixelFormat, VideoFormat};
use crate::ui::canvas::Canvas;

fn idle(n: usize) -> Screen {
    Screen::Idle {
        station: "Front door".into(),
        clock: "12:34".into(),
        contacts: (0..n)
            .map(|i| ContactButton {
                name: format!("Flat {i}"),
                key_hint: Some(format!("F{i}")),
            })
            .collect(),
        messages: vec![],
        replies: vec![],
        web: None,
        nearby: 0,
    }
}

fn replies() -> Vec<String> {
    crate::config::default_quick_replies()
}

const SIZES: [(i32, i32); 4] = [(640, 360), (320, 240), (480, 800), (1280, 800)];

#[test]
fn idle_buttons_fit_the_screen_without_overlapping() {
    for (w, h) in SIZES {
        for n in [1, 2, 3, 4, 7, 9] {
            let b = buttons(&idle(n), w, h);
            assert_eq!(b.len(), n);
            for (i, x) in b.iter().enumerate() {
                let r = x.rect;
                assert!(
                    r.x >= 0 && r.y >= h / 5 && r.x + r.w <= w && r.y + r.h <= h,
                    "{w}x{h} n={n}: {r:?}"
                );
                assert!(r.w >= 40 && r.h >= 30, "{w}x{h} n={n}: button too small {r:?}");
                for y in &b[i + 1..] {
                    let s = y.rect;
                    let apart = r.x + r.w <= s.x || s.x + s.w <= r.x || r.y + r.h <= s.y || s.y + s.h <= r.y;
                    assert!(apart, "{w}x{h} n={n}: {r:?} overlaps {s:?}");
                }
            }
        }
    }
}

#[test]
fn touches_map_to_actions() {
    let screen = idle(3);
    for b in buttons(&screen, 640, 360) {
        let (cx, cy) = (b.rect.x + b.rect.w / 2, b.rect.y + b.rect.h / 2);
        assert_eq!(hit(&screen, 640, 360, cx, cy), Some(b.action.clone()));
    }
    assert_eq!(hit(&screen, 640, 360, 5, 5), None, "the header is not a button");
    let ringing = Screen::Ringing {
        peer: "Door".into(),
        replies: vec![],
    };
    let actions: Vec<_> = buttons(&ringing, 640, 360).into_iter().map(|b| b.action).collect();
    assert_eq!(actions, vec![UiAction::Answer, UiAction::Decline]);
    assert_eq!(hit(&ringing, 640, 360, 100, 320), Some(UiAction::Answer));
    assert_eq!(hit(&ringing, 640, 360, 540, 320), Some(UiAction::Decline));
    let calling = Screen::Calling {
        peer: "Door".into(),
        ringing: true,
    };
    assert_eq!(hit(&calling, 640, 360, 320, 320), Some(UiAction::Cancel));
    let call = Screen::InCall {
        peer: "Door".into(),
        seconds: 5,
        on_hold: false,
        door_open: true,
        replies: vec![],
        can_add: false,
    };
    let actions: Vec<_> = buttons(&call, 640, 360).into_iter().map(|b| b.action).collect();
    assert_eq!(actions, vec![UiAction::Hangup, UiAction::DoorOpen]);
}

#[test]
fn overlays_leave_the_top_of_the_picture_clear() {
    for (w, h) in SIZES {
        for screen in [
            Screen::Ringing {
                peer: "D".into(),
                replies: replies(),
            },
            Screen::InCall {
                peer: "D".into(),
                seconds: 1,
                on_hold: false,
                door_open: true,
                replies: replies(),
                can_add: false,
            },
        ] {
            for b in buttons(&screen, w, h) {
                let below = match b.action {
                    UiAction::QuickReply(_) => h / 2,
                    _ => h * 3 / 5,
                };
                assert!(b.rect.y > below, "{w}x{h}: {:?} covers the picture", b.rect);
            }
        }
    }
}

#[test]
fn fit_preserves_aspect_ratio() {
    let screen = Rect {
        x: 0,
        y: 0,
        w: 640,
        h: 360,
    };
    assert_eq!(screen.fit(640, 360), screen);
    assert_eq!(
        screen.fit(4, 3),
        Rect {
            x: 80,
            y: 0,
            w: 480,
            h: 360
        }
    );
    let portrait = Rect {
        x: 0,
        y: 0,
        w: 480,
        h: 800,
    };
    assert_eq!(
        portrait.fit(16, 9),
        Rect {
            x: 0,
            y: 265,
            w: 480,
            h: 270
        }
    );
}

fn solid(w: u32, h: u32, rgb: [u8; 3]) -> Vec<u8> {
    (0..w * h).flat_map(|_| [rgb[2], rgb[1], rgb[0], 255]).collect()
}

#[test]
fn in_call_screen_shows_the_remote_picture_letterboxed() {
    let mut canvas = Canvas::new(640, 360);
    let data = solid(320, 240, [10, 200, 30]);
    let remote = FrameView {
        format: VideoFormat {
            pixel: PixelFormat::Bgrx,
            width: 320,
            height: 240,
            fps: 0,
        },
        stride: 320 * 4,
        data: &data,
    };
    let screen = Screen::InCall {
        peer: "Door".into(),
        seconds: 65,
        on_hold: false,
        door_open: false,
        replies: vec![],
        can_add: false,
    };
    render(&mut canvas, &screen, Some(remote), None, None);
    assert_eq!(canvas.pixel(320, 100), Rgb(10, 200, 30), "remote picture in the middle");
    assert_eq!(canvas.pixel(20, 100), Rgb(0, 0, 0), "black bar left of a 4:3 picture");
    let hangup = &buttons(&screen, 640, 360)[0];
    assert_eq!(canvas.pixel(hangup.rect.x as u32 + 4, hangup.rect.y as u32 + 4), RED);
}

#[test]
fn idle_screen_draws_name_clock_and_buttons() {
    let mut canvas = Canvas::new(640, 360);
    let screen = idle(2);
    render(&mut canvas, &screen, None, None, Some("Kitchen is busy"));
    let b = &buttons(&screen, 640, 360)[0];
    assert_eq!(canvas.pixel(b.rect.x as u32 + 4, b.rect.y as u32 + 4), BLUE);
    // Text is drawn: the header has bright pixels where the name is.
    let bright = (10..300)
        .flat_map(|x| (18..50).map(move |y| (x, y)))
        .filter(|&(x, y)| canvas.pixel(x, y).0 > 200)
        .count();
    assert!(bright > 100, "station name not drawn ({bright} bright pixels)");
    // The message band is amber.
    let amber = (0..640).filter(|&x| canvas.pixel(x, 360 * 3 / 20 + 2) == AMBER).count();
    assert!(amber > 50, "message band missing");
}

#[test]
fn text_width_grows_with_text_and_size() {
    let short = Canvas::text_width("Hall", 20.0);
    assert!(short > 20 && short < Canvas::text_width("Hall and garage", 20.0));
    assert!(Canvas::text_width("Hall", 40.0) > short);
}

#[test]
fn self_view_sits_bottom_right_clear_of_the_middle() {
    let mut canvas = Canvas::new(640, 360);
    let me = solid(160, 90, [200, 50, 50]);
    let me = FrameView {
        format: VideoFormat {
            pixel: PixelFormat::Bgrx,
            width: 160,
            height: 90,
            fps: 0,
        },
        stride: 160 * 4,
        data: &me,
    };
    let screen = Screen::InCall {
        peer: "Door".into(),
        seconds: 1,
        on_hold: false,
        door_open: false,
        replies: vec![],
        can_add: false,
    };
    render(&mut canvas, &screen, None, Some(me), None);
    assert_eq!(canvas.pixel(560, 310), Rgb(200, 50, 50));
    assert_ne!(
        canvas.pixel(560, 200),
        Rgb(200, 50, 50),
        "the middle of the picture stays clear"
    );
}

#[test]
fn a_long_message_shrinks_to_fit_the_screen() {
    let mut canvas = Canvas::new(320, 240);
    let message = "the camera is not working; the other side sees a placeholder";
    render(&mut canvas, &idle(1), None, None, Some(message));
    // The band leaves a margin on both sides, and its text ends inside it.
    let y = 240 * 3 / 20 + 2;
    assert_ne!(canvas.pixel(1, y), AMBER, "band runs off the left edge");
    assert_ne!(canvas.pixel(318, y), AMBER, "band runs off the right edge");
    assert!((0..320).filter(|&x| canvas.pixel(x, y) == AMBER).count() > 200);
}

#[test]
fn messages_and_quick_replies_fit_beside_the_contacts() {
    for (w, h) in SIZES {
        let mut screen = idle(4);
        if let Screen::Idle {
            messages, replies: r, ..
        } = &mut screen
        {
            *messages = (0..20).map(|i| format!("12:0{i} Kitchen: message {i}")).collect();
            *r = replies();
        }
        let all = buttons(&screen, w, h);
        let replies: Vec<_> = all
            .iter()
            .filter(|b| matches!(b.action, UiAction::QuickReply(_)))
            .collect();
        assert_eq!(replies.len(), 2, "{w}x{h}");
        for (i, a) in all.iter().enumerate() {
            let r = a.rect;
            assert!(
                r.x >= 0 && r.y >= h / 4 && r.x + r.w <= w && r.y + r.h <= h,
                "{w}x{h}: {r:?}"
            );
            for b in &all[i + 1..] {
                let o = b.rect;
                let apart = r.x + r.w <= o.x || o.x + o.w <= r.x || r.y + r.h <= o.y || o.y + o.h <= r.y;
                assert!(apart, "{w}x{h}: {r:?} overlaps {o:?}");
            }
        }
        let b = replies[1];
        let (cx, cy) = (b.rect.x + b.rect.w / 2, b.rect.y + b.rect.h / 2);
        assert_eq!(hit(&screen, w, h, cx, cy), Some(UiAction::QuickReply(1)));
        let mut canvas = Canvas::new(w as u32, h as u32);
        render(&mut canvas, &screen, None, None, None);
    }
}

#[test]
fn quick_replies_in_a_call_sit_between_the_picture_and_the_buttons() {
    for (w, h) in SIZES {
        let screen = Screen::InCall {
            peer: "Door".into(),
            seconds: 1,
            on_hold: false,
            door_open: false,
            replies: replies(),
            can_add: false,
        };
        let all = buttons(&screen, w, h);
        let hang_up = all.iter().find(|b| b.action == UiAction::Hangup).unwrap().rect;
        let replies: Vec<_> = all
            .iter()
            .filter(|b| matches!(b.action, UiAction::QuickReply(_)))
            .collect();
        assert_eq!(replies.len(), 2);
        for r in replies {
            assert!(r.rect.h >= h / 14, "{w}x{h}: {:?} too small to touch", r.rect);
            assert!(r.rect.y + r.rect.h < hang_up.y, "{w}x{h}: {:?} on the buttons", r.rect);
        }
    }
}

#[test]
fn add_opens_a_picker_of_contacts_with_a_way_back() {
    let (w, h) = (640, 360);
    let call = |can_add| Screen::InCall {
        peer: "Kitchen".into(),
        seconds: 3,
        on_hold: false,
        door_open: false,
        replies: vec![],
        can_add,
    };
    let add = |s: &Screen| buttons(s, w, h).into_iter().find(|b| b.action == UiAction::AddStation);
    assert!(add(&call(false)).is_none(), "a full call has no Add");
    let button = add(&call(true)).expect("Add");
    let hang_up = buttons(&call(true), w, h)
        .into_iter()
        .find(|b| b.action == UiAction::Hangup)
        .unwrap();
    let (a, b) = (button.rect, hang_up.rect);
    assert!(a.x >= b.x + b.w || b.x >= a.x + a.w, "Add beside Hang up: {a:?} {b:?}");
    let picker = Screen::AddToCall {
        contacts: vec!["Office".into(), "Upstairs".into()],
    };
    let b = buttons(&picker, w, h);
    assert_eq!(b.len(), 3);
    let office = &b[0];
    assert_eq!(office.action, UiAction::Call("Office".into()));
    let (x, y) = (office.rect.x + office.rect.w / 2, office.rect.y + office.rect.h / 2);
    assert_eq!(hit(&picker, w, h, x, y), Some(UiAction::Call("Office".into())));
    assert!(b.iter().any(|b| b.action == UiAction::AddBack));
    let mut canvas = Canvas::new(w as u32, h as u32);
    render(&mut canvas, &picker, None, None, None);
}

#[test]
fn stations_nearby_get_a_button_on_the_idle_screen_and_a_list_that_pairs() {
    let (w, h) = (800, 480);
    let mut screen = idle(2);
    assert!(buttons(&screen, w, h).iter().all(|b| b.action != UiAction::ShowNearby));
    if let Screen::Idle { nearby, .. } = &mut screen {
        *nearby = 2;
    }
    let b = buttons(&screen, w, h);
    let open = b
        .iter()
        .find(|b| b.action == UiAction::ShowNearby)
        .expect("a Nearby button");
    assert_eq!(open.label, "Nearby (2)");
    assert_eq!(b.iter().filter(|b| matches!(b.action, UiAction::Call(_))).count(), 2);
    let list = Screen::Nearby {
        stations: vec![
            NearbyStation {
                name: "Kitchen".into(),
                code: "KE3J-0DAG".into(),
            },
            NearbyStation {
                name: "Kitchen".into(),
                code: "77QX-PL2M".into(),
            },
        ],
        can_go_back: true,
    };
    let b = buttons(&list, w, h);
    assert_eq!(b.len(), 3, "two stations and Back");
    // Two stations with one name: each is touched by its own code.
    let second = &b[1];
    assert_eq!(second.hint.as_deref(), Some("77QX-PL2M"));
    let (x, y) = (second.rect.x + second.rect.w / 2, second.rect.y + second.rect.h / 2);
    assert_eq!(hit(&list, w, h, x, y), Some(UiAction::PairWith("77QX-PL2M".into())));
    assert!(b.iter().any(|b| b.action == UiAction::NearbyBack));
    // A first boot: no contacts to go back to.
    let first_boot = Screen::Nearby {
        stations: vec![],
        can_go_back: false,
    };
    assert!(buttons(&first_boot, w, h).is_empty());
    let mut canvas = Canvas::new(w as u32, h as u32);
    render(&mut canvas, &list, None, None, None);
    render(&mut canvas, &first_boot, None, None, None);
}
