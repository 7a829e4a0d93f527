package proc

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Machine is what the whole machine did over a window, so a figure taken
// on a shared machine says how shared it was.
type Machine struct {
	CPUs int `json:"cpus"`
	// BusyCores is every process's CPU time over the window (user, system,
	// interrupts), in cores: 2.0 is both cores of a 2-core machine.
	BusyCores float64 `json:"busy_cores"`
	// StealCores is time the hypervisor gave this machine's CPUs to others.
	StealCores float64 `json:"steal_cores"`
	// CPUPressure is the share of the window in which at least one
	// runnable task waited for a CPU (/proc/pressure/cpu "some"); -1 when
	// the kernel does not report it.
	CPUPressure float64 `json:"cpu_pressure"`
	// LoadAvg1 is the one-minute load average at the window's end.
	LoadAvg1 float64 `json:"load_avg_1m"`
}

// machineSample is one reading of the machine-wide counters.
type machineSample struct {
	at         time.Time
	busy, all  uint64 // clock ticks, every CPU
	steal      uint64
	stallMicro int64 // /proc/pressure/cpu some total, µs; -1 unknown
}

func readMachine() (machineSample, error) {
	s := machineSample{at: time.Now(), stallMicro: -1}
	b, err := os.ReadFile(filepath.Join(procRoot, "stat"))
	if err != nil {
		return s, err
	}
	if s.busy, s.all, s.steal, err = parseCPULine(b); err != nil {
		return s, err
	}
	if p, err := os.ReadFile(filepath.Join(procRoot, "pressure", "cpu")); err == nil {
		s.stallMicro = parsePressureSome(p)
	}
	return s, nil
}

// parseCPULine reads the first ("cpu ") line of /proc/stat: user nice
// system idle iowait irq softirq steal [guest guest_nice], guest time being
// part of user already.
func parseCPULine(b []byte) (busy, all, steal uint64, err error) {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	f := strings.Fields(string(line))
	if len(f) < 9 || f[0] != "cpu" {
		return 0, 0, 0, fmt.Errorf("/proc/stat: unexpected first line %.80q", line)
	}
	var v [8]uint64
	for i := range v {
		if v[i], err = strconv.ParseUint(f[i+1], 10, 64); err != nil {
			return 0, 0, 0, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	user, nice, system, idle, iowait, irq, softirq, st := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
	busy = user + nice + system + irq + softirq
	return busy, busy + idle + iowait + st, st, nil
}

// parsePressureSome returns the "some" line's total (µs), -1 when absent.
func parsePressureSome(b []byte) int64 {
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "some" {
			continue
		}
		for _, kv := range f[1:] {
			if v, ok := strings.CutPrefix(kv, "total="); ok {
				n, err := strconv.ParseInt(v, 10, 64)
				if err == nil {
					return n
				}
			}
		}
	}
	return -1
}

// loadAvg1 is the first field of /proc/loadavg.
func loadAvg1() float64 {
	b, err := os.ReadFile(filepath.Join(procRoot, "loadavg"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

// machineBetween turns two samples into a Machine.
func machineBetween(a, b machineSample) *Machine {
	all := float64(b.all - a.all)
	if all <= 0 || b.all < a.all {
		return nil
	}
	cpus := runtime.NumCPU()
	m := &Machine{CPUs: cpus, CPUPressure: -1, LoadAvg1: loadAvg1()}
	m.BusyCores = float64(b.busy-a.busy) / all * float64(cpus)
	m.StealCores = float64(b.steal-a.steal) / all * float64(cpus)
	if a.stallMicro >= 0 && b.stallMicro >= a.stallMicro {
		if window := b.at.Sub(a.at); window > 0 {
			m.CPUPressure = float64(b.stallMicro-a.stallMicro) / float64(window.Microseconds())
		}
	}
	return m
}
