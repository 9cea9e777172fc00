//! One Modbus connection (a TCP device or gateway, an RS-485 bus on a serial
//! port, or RTU framing over TCP), shared by the devices (unit ids) behind it.
//! Requests go one at a time (the devices' tasks take turns on a mutex);
//! every request is bounded by a timeout; after a timeout, a broken
//! connection or a reply that does not match the request, the connection is
//! dropped and built again, so a late reply can never be taken for the
//! answer to the next request. Reconnecting backs off from 0.5 s to 30 s.

use std::sync::Arc;
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

/// Why a read failed, by kind (the `device` point counts each). The error
/// from the socket, serial port or Modbus library is kept as the source.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ReadError {
    /// The device answered with a Modbus exception: it is alive.
    #[error("exception {:02X} ({})", u8::from(*.0), exception_name(*.0))]
    Exception(ExceptionCode),
    #[error("no reply (timeout)")]
    Timeout,
    /// Cannot connect.
    #[error("cannot connect: {endpoint}: {source}")]
    Connect { endpoint: Endpoint, source: Arc<OpenError> },
    /// Waiting to try connecting again (counted as `connect`).
    #[error("cannot connect: retrying in {} ms", .0.as_millis())]
    RetryLater(Duration),
    /// The connection broke, or the reply was not Modbus.
    #[error("connection error: {0}")]
    Transport(#[source] Arc<tokio_modbus::Error>),
    /// The reply did not carry as many values as asked for (counted as `transport`).
    #[error("connection error: asked for {asked} values, got {got}")]
    Short { asked: u16, got: usize },
}

impl ReadError {
    pub fn kind(&self) -> &'static str {
        match self {
            ReadError::Exception(_) => "exception",
            ReadError::Timeout => "timeout",
            ReadError::Connect { .. } | ReadError::RetryLater(_) => "connect",
            ReadError::Transport(_) | ReadError::Short { .. } => "transport",
        }
    }
}

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The TCP connection was refused, unreachable or the name unknown.
    #[error("{0}")]
    Tcp(#[source] std::io::Error),
    /// The serial port cannot be opened (missing, busy, no permission).
    #[error("{0}")]
    Serial(#[source] tokio_serial::Error),
    #[error("no connection within {} ms", .0.as_millis())]
    Timeout(Duration),
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

    async fn open(endpoint: &Endpoint, timeout: Duration) -> Result<Context, OpenError> {
        let connect = async {
            match endpoint {
                Endpoint::Tcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await.map_err(OpenError::Tcp)?;
                    let _ = s.set_nodelay(true);
                    Ok(tokio_modbus::client::tcp::attach(s))
                }
                Endpoint::RtuOverTcp(a) => {
                    let s = tokio::net::TcpStream::connect(a.as_str()).await.map_err(OpenError::Tcp)?;
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
                        .map_err(OpenError::Serial)?;
                    Ok(tokio_modbus::client::rtu::attach(p))
                }
            }
        };
        match tokio::time::timeout(timeout, connect).await {
            Ok(r) => r,
            Err(_) => Err(OpenError::Timeout(timeout)),
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
                return Err(ReadError::RetryLater(t.saturating_duration_since(Instant::now())));
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
                    return Err(ReadError::Connect { endpoint: self.endpoint.clone(), source: Arc::new(e) });
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
                Err(ReadError::Transport(Arc::new(e)))
            }
            Ok(Ok(Err(code))) => Err(ReadError::Exception(code)),
            Ok(Ok(Ok(words))) if words.len() != usize::from(r.count) => {
                self.reset();
                Err(ReadError::Short { asked: r.count, got: words.len() })
            }
            Ok(Ok(Ok(words))) => Ok(words),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[tokio::test]
    async fn a_refused_connection_keeps_the_socket_error_as_its_source() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        drop(listener);
        let mut conn = Conn::new(Endpoint::Tcp(addr.clone()));
        let read = Read { function: Function::Holding, start: 0, count: 1 };
        let e = conn.read(1, &read, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(e.kind(), "connect");
        let open = e.source().expect("the open error is the source");
        let socket = open.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("the socket error");
        assert_eq!(socket.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(e.to_string(), format!("cannot connect: tcp://{addr}: {socket}"));
        let again = conn.read(1, &read, Duration::from_secs(2)).await.unwrap_err();
        assert_eq!(again.kind(), "connect");
        assert!(again.to_string().starts_with("cannot connect: retrying in "), "{again}");
    }
}
