use super::*;

fn addr(last: u8) -> IpAddr {
    IpAddr::from([192, 168, 1, last])
}

fn set_up(auth: &mut Auth, now: Instant) -> (String, String) {
    let code = auth.setup_code().expect("a code while no password is set");
    auth.begin_setup(addr(2), &code, now).unwrap();
    match auth.finish_setup("hash-1".into(), now).unwrap() {
        Guess::Right { token, csrf } => (token, csrf),
        other => panic!("{other:?}"),
    }
}

fn log_in(auth: &mut Auth, from: IpAddr, right: bool, now: Instant) -> Guess {
    match auth.begin_login(from, None, now) {
        Ok((attempt, hash)) => auth.login_checked(attempt, &hash, right, now),
        Err(refused) => refused,
    }
}

#[test]
fn the_setup_code_sets_the_password_once() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    let code = auth.setup_code().unwrap();
    assert_eq!(code.len(), 9, "{code}");
    assert_eq!(auth.begin_setup(addr(2), "0000-000", now), Err(Guess::Wrong));
    let (token, csrf) = set_up(&mut auth, now);
    assert_eq!(auth.session(&token, now), Some(SessionView { csrf }));
    assert_eq!(auth.setup_code(), None, "the code is gone once a password is set");
    assert_eq!(auth.begin_setup(addr(2), &code, now), Err(Guess::NotNow));
    assert_eq!(auth.finish_setup("h2".into(), now).unwrap(), Guess::NotNow);
}

#[test]
fn the_sixth_wrong_guess_in_a_minute_is_not_checked() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    set_up(&mut auth, now);
    for _ in 0..GUESSES_PER_ADDRESS {
        assert_eq!(log_in(&mut auth, addr(9), false, now), Guess::Wrong);
    }
    assert_eq!(log_in(&mut auth, addr(9), true, now), Guess::TooMany);
    assert!(
        matches!(log_in(&mut auth, addr(10), true, now), Guess::Right { .. }),
        "another address is not blocked by this one"
    );
    assert!(matches!(
        log_in(&mut auth, addr(9), true, now + GUESS_WINDOW),
        Guess::Right { .. }
    ));
}

#[test]
fn a_locked_page_lets_in_whoever_reads_the_code_on_the_screen() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    set_up(&mut auth, now);
    for i in 0..GUESSES_IN_ALL {
        assert_eq!(log_in(&mut auth, addr(100 + i as u8), false, now), Guess::Wrong);
    }
    assert_eq!(log_in(&mut auth, addr(3), true, now), Guess::LockedOut);
    let code = auth.unlock_code(now).expect("the screen shows a code");
    let (attempt, hash) = auth.begin_login(addr(3), Some(&code), now).unwrap();
    assert!(matches!(
        auth.login_checked(attempt, &hash, true, now),
        Guess::Right { .. }
    ));
}

#[test]
fn a_locked_first_visit_takes_the_unlock_code_instead_of_the_setup_code() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    let setup = auth.setup_code().unwrap();
    for i in 0..GUESSES_IN_ALL {
        assert_eq!(
            auth.begin_setup(addr(100 + i as u8), "1111-1111", now),
            Err(Guess::Wrong)
        );
    }
    assert_eq!(auth.begin_setup(addr(3), &setup, now), Err(Guess::LockedOut));
    let unlock = auth.unlock_code(now).unwrap();
    assert_eq!(auth.begin_setup(addr(3), &unlock, now), Ok(()));
    assert!(matches!(
        auth.finish_setup("hash-1".into(), now).unwrap(),
        Guess::Right { .. }
    ));
}

#[test]
fn a_new_password_needs_the_old_one_and_ends_every_other_session() {
    let mut auth = Auth::new(None);
    let now = Instant::now();
    let (first, _) = set_up(&mut auth, now);
    let Guess::Right { token: second, .. } = log_in(&mut auth, addr(4), true, now) else {
        panic!()
    };
    let (attempt, hash) = auth.begin_login(addr(4), None, now).unwrap();
    assert_eq!(
        auth.change_password(attempt, &hash, false, "hash-2".into(), now)
            .unwrap(),
        Guess::Wrong
    );
    let (attempt, hash) = auth.begin_login(addr(4), None, now).unwrap();
    let Guess::Right { token: third, .. } = auth
        .change_password(attempt, &hash, true, "hash-2".into(), now)
        .unwrap()
    else {
        panic!()
    };
    assert!(!auth.session_open(&first, now) && !auth.session_open(&second, now));
    assert!(auth.session_open(&third, now));
    assert_eq!(auth.sessions(), 1);
}

#[test]
fn sessions_end_on_logout_idle_time_and_a_new_password() {
    let dir = tempfile::tempdir().unwrap();
    let mut auth = Auth::new(Some(dir.path().to_path_buf()));
    let now = Instant::now();
    let code = auth.setup_code().unwrap();
    let hash = crate::web::password::hash("first password").unwrap();
    auth.begin_setup(addr(2), &code, now).unwrap();
    let Guess::Right { token, .. } = auth.finish_setup(hash, now).unwrap() else {
        panic!()
    };
    assert!(auth.session(&token, now).is_some());
    assert!(auth.session("forged", now).is_none());
    // The console sets another password: every session ends.
    crate::web::password::store(dir.path(), "second password").unwrap();
    assert!(!auth.session_open(&token, now));
    assert!(auth.session(&token, now).is_none());
    let Guess::Right { token, .. } = log_in(&mut auth, addr(2), true, now) else {
        panic!()
    };
    assert!(auth.session(&token, now + SESSION_IDLE / 2).is_some());
    assert!(
        auth.session(&token, now + SESSION_IDLE / 2 + SESSION_IDLE).is_none(),
        "idle too long"
    );
    let Guess::Right { token, .. } = log_in(&mut auth, addr(2), true, now) else {
        panic!()
    };
    auth.log_out(&token);
    assert!(!auth.session_open(&token, now));
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
        log_in(&mut auth, addr(3), true, now + Duration::from_secs(i + 1));
    }
    assert_eq!(auth.sessions(), MAX_SESSIONS);
    assert!(
        auth.session(&first, now).is_none(),
        "the least recently used went first"
    );
}
