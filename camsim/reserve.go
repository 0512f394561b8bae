package camsim

import (
	"net"
	"syscall"
)

// portHold keeps a port bound while the camera is down (offline or
// rebooting), so that no other socket — an outgoing connection of this
// machine picking an ephemeral port, say — takes it and the camera can come
// back at the same address. A bound TCP socket that does not listen refuses
// connections, as a camera that is off does.
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
