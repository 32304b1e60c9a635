//! Sockets std cannot set up (issue 14): an IPv6 listener with
//! IPV6_V6ONLY chosen before bind, and the shutdown that wakes a thread
//! blocked in accept(2). Part of `sys`: each `unsafe` block says why it is
//! sound.

use std::io;

/// Stops a listening socket: a thread blocked in accept(2) on it returns
/// (EINVAL), and connections not yet accepted are reset. Linux does this
/// for shutdown(2) of a listener; it needs no connection to the socket,
/// so it works where loopback is down (a network namespace).
pub fn shutdown_listener(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: shutdown(2) on a borrowed, open fd touches no memory of ours.
    if unsafe { libc::shutdown(fd.as_raw_fd(), libc::SHUT_RD) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A TCP listener on the IPv6 `addr`, with IPV6_V6ONLY set to `v6_only`
/// (off: IPv4 clients reach it too, as `::ffff:a.b.c.d`; std cannot set
/// that option before bind), SO_REUSEADDR on (as std does) and a backlog
/// of `backlog` connections.
pub fn listen_ipv6(
    addr: std::net::SocketAddrV6,
    v6_only: bool,
    backlog: u32,
) -> io::Result<std::net::TcpListener> {
    use std::os::fd::{AsRawFd, FromRawFd};
    // SAFETY: socket(2) takes integers and returns a new fd.
    let raw = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` was just returned by the kernel, is open and owned by
    // no one else; OwnedFd closes it exactly once (also on the error paths).
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(raw) };
    set_int_option(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    set_int_option(
        fd.as_raw_fd(),
        libc::IPPROTO_IPV6,
        libc::IPV6_V6ONLY,
        libc::c_int::from(v6_only),
    )?;
    // SAFETY: sockaddr_in6 is plain data; every field is set below.
    let mut sa: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    sa.sin6_family = libc::sa_family_t::try_from(libc::AF_INET6).unwrap_or_default();
    sa.sin6_port = addr.port().to_be();
    sa.sin6_flowinfo = addr.flowinfo();
    sa.sin6_addr.s6_addr = addr.ip().octets();
    sa.sin6_scope_id = addr.scope_id();
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::sockaddr_in6>())
        .map_err(|_| io::Error::other("sockaddr_in6 size"))?;
    // SAFETY: `sa` is a valid sockaddr_in6 of `len` bytes that lives
    // across the call; bind only reads it.
    let rc = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::addr_of!(sa).cast::<libc::sockaddr>(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
    // SAFETY: listen(2) on our own open fd takes an integer.
    if unsafe { libc::listen(fd.as_raw_fd(), backlog) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(std::net::TcpListener::from(fd))
}

/// Whether the IPv6 socket `fd` takes IPv6 connections only
/// (IPV6_V6ONLY), as opposed to IPv4 ones too.
pub fn is_ipv6_only(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    let mut value: libc::c_int = 0;
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::other("c_int size"))?;
    // SAFETY: `value` and `len` live across the call; getsockopt writes at
    // most `len` bytes to `value` and the written length to `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd.as_raw_fd(),
            libc::IPPROTO_IPV6,
            libc::IPV6_V6ONLY,
            std::ptr::addr_of_mut!(value).cast::<libc::c_void>(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(value != 0)
}

/// Whether `e` (from [`listen_ipv6`]) says this host has no IPv6: a
/// kernel without it (`ipv6.disable=1`: EAFNOSUPPORT), or no IPv6 address
/// to bind.
pub fn is_ipv6_unavailable(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAFNOSUPPORT | libc::EPROTONOSUPPORT | libc::EADDRNOTAVAIL)
    )
}

fn set_int_option(
    fd: std::os::fd::RawFd,
    level: libc::c_int,
    name: libc::c_int,
    value: libc::c_int,
) -> io::Result<()> {
    let len = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())
        .map_err(|_| io::Error::other("c_int size"))?;
    // SAFETY: `value` lives across the call and is `len` bytes long;
    // setsockopt only reads it.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            std::ptr::addr_of!(value).cast::<libc::c_void>(),
            len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
