//! The words of Telegram's buttons and of the answers to their presses
//! (`alarm/telegram/`). Vietnamese first. Telegram shows an answer in a
//! small box for a few seconds: short sentences, at most 200 characters.

use super::Lang;

/// The buttons' and answers' words.
pub struct Text {
    /// The button that acknowledges the alarm.
    pub ack: &'static str,
    /// The button that silences the alarm for one hour.
    pub silence_1h: &'static str,
    /// The answer to a good acknowledgement: `Đã xác nhận (nam).`
    pub acked: fn(&str) -> String,
    /// The line added to the message below the notice.
    pub acked_line: fn(&str) -> String,
    /// The answer to a good silence.
    pub silenced: fn(&str) -> String,
    /// The line added to the message below the notice.
    pub silenced_line: fn(&str) -> String,
    /// The answer to a press by someone not allowed to act.
    pub refused: &'static str,
    /// The answer when the alarm is no longer pending or firing.
    pub gone: &'static str,
    /// The answer to a button dcwatch does not know (not its own, or garbled).
    pub unknown_button: &'static str,
    /// The answer when the action could not be done (the log says why).
    pub failed: &'static str,
}

pub static VI: Text = Text {
    ack: "Xác nhận",
    silence_1h: "Tạm tắt 1 giờ",
    acked: |who| format!("Đã xác nhận cảnh báo ({who})."),
    acked_line: |who| format!("— {who} đã xác nhận qua Telegram."),
    silenced: |who| format!("Đã tạm tắt cảnh báo trong 1 giờ ({who})."),
    silenced_line: |who| format!("— {who} đã tạm tắt 1 giờ qua Telegram."),
    refused: "Tài khoản Telegram của bạn không được phép xử lý cảnh báo. Hãy nhờ quản trị viên thêm bạn vào danh sách.",
    gone: "Cảnh báo này không còn: đã hết hoặc đã hết hạn.",
    unknown_button: "Nút này không còn dùng được.",
    failed: "Chưa làm được. Hãy thử lại, hoặc dùng bảng điều khiển web.",
};

pub static EN: Text = Text {
    ack: "Acknowledge",
    silence_1h: "Silence 1 h",
    acked: |who| format!("Alarm acknowledged ({who})."),
    acked_line: |who| format!("— acknowledged by {who} via Telegram."),
    silenced: |who| format!("Alarm silenced for 1 h ({who})."),
    silenced_line: |who| format!("— silenced for 1 h by {who} via Telegram."),
    refused: "Your Telegram account may not act on alarms. Ask an administrator to add you to the list.",
    gone: "This alarm is gone: it resolved or expired.",
    unknown_button: "This button no longer works.",
    failed: "That did not work. Try again, or use the web console.",
};

impl Lang {
    /// Telegram's buttons and answers.
    pub fn telegram(self) -> &'static Text {
        match self {
            Lang::Vi => &VI,
            Lang::En => &EN,
        }
    }
}
