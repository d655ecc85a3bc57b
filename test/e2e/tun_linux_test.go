//go:build linux

package e2e

import (
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// tunLink joins two namespaces by a pair of TUN devices and forwards IP
// packets between them in user space, holding each packet for a fixed
// delay per direction. The kernel here has no sch_netem; this is the lab's
// way to give a link a known delay.
//
// It also keeps ICMP errors off the fast path of connect(): on a plain veth
// the whole round trip to a rejecting router can run inside the client's
// connect() syscall, while it holds the socket lock, and the kernel then
// keeps the ICMP only as a soft error (TcpExtLockDroppedIcmps). A packet
// that crosses this link leaves the kernel and comes back later, as on any
// real link (docs/kernel-evidence.md, "The socket-lock ICMP race, and the lab's TUN wire").
//
// Each direction has a reader and a writer, each on its own OS thread with
// real-time priority where the kernel allows it, timing packets with
// CLOCK_MONOTONIC and clock_nanosleep: the link keeps its delay to a few
// microseconds even when other processes load the CPUs.
type tunLink struct {
	name     string
	fds      [2]int
	delay    [2]time.Duration // [0]: end 0 → end 1, [1]: end 1 → end 0
	stop     int              // eventfd: readable once the link is closing
	stopping atomic.Bool
	packets  [2]atomic.Int64
	realtime atomic.Bool // the threads got SCHED_FIFO
	wg       sync.WaitGroup
	once     sync.Once
}

type heldPacket struct {
	data []byte
	due  unix.Timespec // CLOCK_MONOTONIC
}

// newTUNLink creates TUN device devA in nsA and devB in nsB and starts
// forwarding: delayAB from A to B, delayBA back. The devices live as long
// as the link: Close removes them.
func newTUNLink(name, nsA, devA, nsB, devB string, delayAB, delayBA time.Duration) (*tunLink, error) {
	a, err := openTUN(nsA, devA)
	if err != nil {
		return nil, err
	}
	b, err := openTUN(nsB, devB)
	if err != nil {
		_ = unix.Close(a) // openTUN's error is the one to report
		return nil, err
	}
	stop, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(a) // Eventfd's error is the one to report
		_ = unix.Close(b)
		return nil, err
	}
	l := &tunLink{name: name, fds: [2]int{a, b}, delay: [2]time.Duration{delayAB, delayBA}, stop: stop}
	l.realtime.Store(true)
	l.wg.Add(4)
	go l.read(0)
	go l.read(1)
	return l, nil
}

// openTUN creates a TUN device (IP packets, no extra header) inside ns and
// returns its non-blocking descriptor.
func openTUN(ns, dev string) (int, error) {
	fd := -1
	err := inNS(ns, func() error {
		var err error
		fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("opening /dev/net/tun: %w", err)
		}
		ifr, err := unix.NewIfreq(dev)
		if err == nil {
			ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
			err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
		}
		if err != nil {
			_ = unix.Close(fd) // the ioctl's error is the one to report
			return fmt.Errorf("TUNSETIFF %s in %s: %w", dev, ns, err)
		}
		return nil
	})
	return fd, err
}

// lockRealtime pins the calling goroutine to its thread for good and asks
// for SCHED_FIFO, so that a loaded machine does not delay the packets.
func (l *tunLink) lockRealtime() {
	runtime.LockOSThread() // never unlocked: the thread ends with the goroutine
	attr := unix.SchedAttr{Size: unix.SizeofSchedAttr, Policy: unix.SCHED_FIFO, Priority: 10}
	if err := unix.SchedSetAttr(0, &attr, 0); err != nil {
		l.realtime.Store(false)
	}
}

func monotonic() unix.Timespec {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts) // fails only for an unknown clock
	return ts
}

// read takes the packets arriving at end `from`, stamps each with the time
// it is due at the other end, and hands them to a writer. Delays are
// constant per direction, so a FIFO keeps the release order.
func (l *tunLink) read(from int) {
	l.lockRealtime()
	defer l.wg.Done()
	queue := make(chan heldPacket, 4096)
	defer close(queue)
	go l.write(1-from, queue)
	src, delay := l.fds[from], l.delay[from].Nanoseconds()
	poll := []unix.PollFd{{Fd: int32(src), Events: unix.POLLIN}, {Fd: int32(l.stop), Events: unix.POLLIN}}
	buf := make([]byte, 65536)
	for {
		if _, err := unix.Poll(poll, -1); err != nil && err != unix.EINTR {
			return
		}
		if poll[1].Revents != 0 {
			return
		}
		for {
			n, err := unix.Read(src, buf)
			if err != nil {
				break // EAGAIN: drained
			}
			due := unix.NsecToTimespec(unix.TimespecToNsec(monotonic()) + delay)
			l.packets[from].Add(1)
			queue <- heldPacket{append([]byte(nil), buf[:n]...), due}
		}
	}
}

// write sends each packet out of end `to` when it is due.
func (l *tunLink) write(to int, queue <-chan heldPacket) {
	l.lockRealtime()
	defer l.wg.Done()
	dst := l.fds[to]
	for p := range queue {
		if l.stopping.Load() {
			continue
		}
		for unix.ClockNanosleep(unix.CLOCK_MONOTONIC, unix.TIMER_ABSTIME, &p.due, nil) == unix.EINTR {
		}
		_, _ = unix.Write(dst, p.data) // a packet the device refuses is lost, as on a wire
	}
}

// Close stops forwarding and removes both devices.
func (l *tunLink) Close() error {
	var err error
	l.once.Do(func() {
		l.stopping.Store(true)
		if _, werr := unix.Write(l.stop, []byte{1, 0, 0, 0, 0, 0, 0, 0}); werr != nil {
			err = fmt.Errorf("waking the forwarders of %s: %w", l.name, werr)
			// The threads stay blocked in read; closing would not wake them.
			return
		}
		l.wg.Wait()
		err = errors.Join(unix.Close(l.fds[0]), unix.Close(l.fds[1]), unix.Close(l.stop))
	})
	return err
}

func (l *tunLink) String() string {
	return fmt.Sprintf("%s: %d packets forward (delay %s), %d back (delay %s); real-time threads: %v",
		l.name, l.packets[0].Load(), l.delay[0], l.packets[1].Load(), l.delay[1], l.realtime.Load())
}
