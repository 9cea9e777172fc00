//! One Modbus connection (a TCP device or gateway, an RS-485 bus on a serial
//! port, or RTU framing over TCP), shared by the devices (unit ids) behind it.
//! Requests go one at a time (the devices' tasks take turns on a mutex);
//! every request is bounded by a timeout; after a timeout, a broken
//! connection or a reply that does not match the request, the connection is
//! dropped and built again, so a late reply can never be taken for the
//! answer to the next request. Reconnecting backs off from 0.5 s to 30 s.

use std::time::{Duration, Instant};

use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::{ExceptionCode, Slave};

use super::plan::Read;
use super::profile::Function;

/// How a connection reaches its devices.
#[derive(Debug, Clone, PartialEq)]
pub enum Endpoint {
    Tcp(String),
    RtuOverTcp(String),
    Rtu { port: String, baud_rate: u32, parity: Parity, stop_bits: u8 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Parity {
    None,
    Even,
    Odd,
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "tcp://{a}"),
            Endpoint::RtuOverTcp(a) => write!(f, "rtu-over-tcp://{a}"),
            Endpoint::Rtu { port, baud_rate, parity, stop_bits } => {
                let p = match parity {
                    Parity::None => 'N',
                    Parity::Even => 'E',
                    Parity::Odd => 'O',
                };
                write!(f, "rtu://{port} {baud_rate} 8{p}{stop_bits}")
            }
        }
    }
}

/// Why a read failed, by kind (the `device` point counts each).
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The device answered with a Modbus exception: it is alive.
    Exception(ExceptionCode),
    Timeout,
    /// Cannot connect (or waiting to try again).
    Connect(String),
    /// The connection broke, or the reply did not match the request.
    Transport(String),
}

impl ReadError {
    pub fn kind(&self) -> &'static str {
        match self {
            ReadError::Exception(_) => "exception",
            ReadError::Timeout => "timeout",
            ReadError::Connect(_) => "connect",
            ReadError::Transport(_) => "transport",
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Exception(e) => write!(f, "exception {:02X} ({})", u8::from(*e), exception_name(*e)),
            ReadError::Timeout => write!(f, "no reply (timeout)"),
            ReadError::Connect(m) => write!(f, "cannot connect: {m}"),
            ReadError::Transport(m) => write!(f, "connection error: {m}"),
        }
    }
}

/// The exception's name as a counter suffix.
pub fn exception_name(e: ExceptionCode) -> &'static str {
    match e {
        ExceptionCode::IllegalFunction => "illegal_function",
        ExceptionCode::IllegalDataAddress => "illegal_data_address",
        ExceptionCode::IllegalDataValue => "illegal_data_value",
        ExceptionCode::ServerDeviceFailure => "device_failure",
        ExceptionCode::Acknowledge => "acknowledge",
        ExceptionCode::ServerDeviceBusy => "device_busy",
        ExceptionCode::MemoryParityError => "memory_parity_error",
        ExceptionCode::GatewayPathUnavailable => "gateway_path_unavailable",
        ExceptionCode::GatewayTargetDevice => "gateway_target_no_response",
        _ => "other",
    }
}

pub struct Conn {
    pub endpoint: Endpoint,
    ctx: Option<Context>,
    retry_at: Option<Instant>,
    backoff: Duration,
}

const MIN_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

impl Conn {
    pub fn new(endpoint: Endpoint) -> Conn {
        Conn { endpoint, ctx: None, retry_at: None, backoff: MIN_BACKOFF }
    }

    async fn open(endpoint: &Endpoint, timeout: Duration) -> Result<Context, String> {
        let connect = async {
            match endpoint {
                Endpoint::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await.map_err(|e| e.to_string())?;
                    let _ = s.set_nodelay(true);
                    Ok(tokio_modbus::client::tcp::attach(s))
                }
                Endpoint::RtuOverTcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await.map_err(|e| e.to_string())?;
                    let _ = s.set_nodelay(true);
                    Ok(tokio_modbus::client::rtu::attach(s))
                }
                Endpoint::Rtu { port, baud_rate, parity, stop_bits } => {
                    use tokio_serial::SerialPortBuilderExt;
                    let p = tokio_serial::new(port, *baud_rate)
                        .parity(match parity {
                            Parity::None => tokio_serial::Parity::None,
                            Parity::Even => tokio_serial::Parity::Even,
                            Parity::Odd => tokio_serial::Parity::Odd,
                        })
                        .stop_bits(if *stop_bits == 2 {
                            tokio_serial::StopBits::Two
                        } else {
                            tokio_serial::StopBits::One
                        })
                        .data_bits(tokio_serial::DataBits::Eight)
                        .open_native_async()
                        .map_err(|e| e.to_string())?;
                    Ok(tokio_modbus::client::rtu::attach(p))
                }
            }
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(format!("no connection within {} ms", timeout.as_millis())),
        }
    }

    /// Drops the connection: the next request builds a new one.
    pub fn reset(&mut self) {
        self.ctx = None;
    }

    /// Reads one block from unit `unit`: registers, or bits as 0/1.
    pub async fn read(&mut self, unit: u8, r: &Read, timeout: Duration) -> Result<Vec<u16>, ReadError> {
        if self.ctx.is_none() {
            if let Some(t) = self.retry_at
                && Instant::now() < t
            {
                let left = t.saturating_duration_since(Instant::now());
                return Err(ReadError::Connect(format!("retrying in {} ms", left.as_millis())));
            }
            match Self::open(&self.endpoint.clone(), timeout).await {
                Ok(c) => {
                    self.ctx = Some(c);
                    self.retry_at = None;
                    self.backoff = MIN_BACKOFF;
                }
                Err(e) => {
                    self.retry_at = Some(Instant::now() + self.backoff);
                    self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
                    return Err(ReadError::Connect(format!("{}: {e}", self.endpoint)));
                }
            }
        }
        let ctx = self.ctx.as_mut().expect("connected above");
        ctx.set_slave(Slave(unit));
        let bits = |v: Vec<bool>| v.into_iter().take(usize::from(r.count)).map(u16::from).collect::<Vec<u16>>();
        let result = tokio::time::timeout(timeout, async {
            match r.function {
                Function::Holding => ctx.read_holding_registers(r.start, r.count).await,
                Function::Input => ctx.read_input_registers(r.start, r.count).await,
                Function::Coil => ctx.read_coils(r.start, r.count).await.map(|x| x.map(bits)),
                Function::Discrete => ctx.read_discrete_inputs(r.start, r.count).await.map(|x| x.map(bits)),
            }
        })
        .await;
        match result {
            Err(_) => {
                self.reset();
                Err(ReadError::Timeout)
            }
            Ok(Err(e)) => {
                self.reset();
                Err(ReadError::Transport(e.to_string()))
            }
            Ok(Ok(Err(code))) => Err(ReadError::Exception(code)),
            Ok(Ok(Ok(words))) if words.len() != usize::from(r.count) => {
                self.reset();
                Err(ReadError::Transport(format!("asked for {} values, got {}", r.count, words.len())))
            }
            Ok(Ok(Ok(words))) => Ok(words),
        }
    }
}
