package camsim

import (
	"net"
	"syscall"
)

// portHold keeps a camera's ports bound while it is down (offline or
// rebooting). The kernel never gives an explicitly bound port to an
// outgoing connection as its ephemeral port, which is what otherwise takes
// a random-port camera's address while it is away. (Another program binding
// the port on purpose with SO_REUSEADDR is not stopped.) A bound TCP socket
// that does not listen refuses connections, as a camera that is off does.
type portHold struct{ fds []int }

// hold binds host:port for TCP (not listening) and UDP. Failures leave that
// port unheld: the camera still works, it may just not get the port back.
func hold(host string, tcpPorts []int, udpPort int) *portHold {
	ip := net.ParseIP(host).To4()
	if ip == nil {
		return &portHold{}
	}
	h := &portHold{}
	bind := func(typ, port int) {
		fd, err := syscall.Socket(syscall.AF_INET, typ|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return
		}
		_ = syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		sa := &syscall.SockaddrInet4{Port: port}
		copy(sa.Addr[:], ip)
		if err := syscall.Bind(fd, sa); err != nil {
			syscall.Close(fd)
			return
		}
		h.fds = append(h.fds, fd)
	}
	for _, p := range tcpPorts {
		bind(syscall.SOCK_STREAM, p)
	}
	bind(syscall.SOCK_DGRAM, udpPort)
	return h
}

// release frees the ports, right before the camera listens on them again.
func (h *portHold) release() {
	if h == nil {
		return
	}
	for _, fd := range h.fds {
		syscall.Close(fd)
	}
	h.fds = nil
}
