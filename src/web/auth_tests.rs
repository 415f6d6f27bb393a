use super::*;

fn addr(last: u8) -> IpAddr {
    IpAddr::from([192, 168, 1, last])
}

fn set_up(auth: &mut Auth, now: Instant) -> (String, String) {
    let code = auth.setup_code().expect("a code while no password is set");
    match auth.set_up(addr(2), &code, "hash-1".into(), now).unwrap() {
        Guess::Right { token, csrf } => (token, csrf),
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_setup_code_sets_the_password_once() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    let code = auth.setup_code().unwrap();
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(auth.set_up(addr(2), "0000-000", "h".into(), now).unwrap(), Guess::Wrong);
    let (token, csrf) = set_up(&mut auth, now);
    assert_eq!(auth.session(&token, now), Some(SessionView { csrf }));
    assert_eq!(auth.setup_code(), None, "the code is gone once a password is set");
    assert_eq!(auth.set_up(addr(2), &code, "h2".into(), now).unwrap(), Guess::NotNow);
}

#[test]
fn the_sixth_wrong_guess_in_a_minute_is_not_checked() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    set_up(&mut auth, now);
    for _ in 0..GUESSES_PER_ADDRESS {
        assert!(auth.may_guess(addr(9), now));
        assert_eq!(auth.login_checked(addr(9), "hash-1", false, now), Guess::Wrong);
    }
    assert!(!auth.may_guess(addr(9), now));
    assert!(
        auth.may_guess(addr(10), now),
        "another address is not blocked by this one"
    );
    assert!(auth.may_guess(addr(9), now + GUESS_WINDOW), "the window passes");
}

#[test]
fn many_addresses_together_hit_the_overall_limit() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    for i in 0..GUESSES_IN_ALL {
        auth.wrong_guess(addr(i as u8), now);
    }
    assert!(!auth.may_guess(addr(250), now));
}

#[test]
fn sessions_end_on_logout_idle_time_and_a_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut auth = Auth::new(Some(dir.path().to_path_buf()));
    let now = Instant::now();
    let code = auth.setup_code().unwrap();
    let hash = crate::web::password::hash("first password").unwrap();
    let Guess::Right { token, .. } = auth.set_up(addr(2), &code, hash.clone(), now).unwrap() else {
        panic!()
    };
    assert!(auth.session(&token, now).is_some());
    assert!(auth.session("forged", now).is_none());
    // The console sets another password: every session ends.
    crate::web::password::store(dir.path(), "second password").unwrap();
    assert!(auth.session(&token, now).is_none());
    let new_hash = auth.password_hash().unwrap();
    let Guess::Right { token, .. } = auth.login_checked(addr(2), &new_hash, true, now) else {
        panic!()
    };
    assert!(auth.session(&token, now + SESSION_IDLE / 2).is_some());
    assert!(
        auth.session(&token, now + SESSION_IDLE / 2 + SESSION_IDLE).is_none(),
        "idle too long"
    );
    let Guess::Right { token, .. } = auth.login_checked(addr(2), &new_hash, true, now) else {
        panic!()
    };
    auth.log_out(&token);
    assert!(auth.session(&token, now).is_none());
    // Cleared from the console: a new code appears for the screen.
    crate::web::password::clear(dir.path()).unwrap();
    assert!(auth.setup_code().is_some());
}

#[test]
fn sessions_are_bounded() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    let (first, _) = set_up(&mut auth, now);
    for i in 0..MAX_SESSIONS as u64 {
        auth.login_checked(addr(3), "hash-1", true, now + Duration::from_secs(i + 1));
    }
    assert_eq!(auth.sessions(), MAX_SESSIONS);
    assert!(
        auth.session(&first, now).is_none(),
        "the least recently used went first"
    );
}
