//! The customer's words, in Simplified Chinese and English: the tracking page and the
//! notification texts of webhook payloads share them. Pure.

use chrono::{DateTime, FixedOffset};
use fieldsync_core::time::Millis;

/// A language the customer pages and notifications speak.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// English.
    En,
    /// Simplified Chinese.
    Zh,
}

impl Lang {
    /// Both, in the order the notification texts list them.
    pub const ALL: [Lang; 2] = [Lang::Zh, Lang::En];

    /// The BCP 47 tag for `<html lang>`.
    pub fn tag(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh-CN",
        }
    }

    /// The short code in payloads and settings.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Zh => "zh",
        }
    }

    /// Parses [`Lang::code`] (or any `zh-*` / `en-*` tag).
    pub fn parse(s: &str) -> Option<Lang> {
        let primary = s.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        match primary.as_str() {
            "zh" => Some(Lang::Zh),
            "en" => Some(Lang::En),
            _ => None,
        }
    }

    /// The language an `Accept-Language` header prefers among ours (highest q first, then
    /// order); `fallback` when it names neither.
    pub fn from_accept_language(header: Option<&str>, fallback: Lang) -> Lang {
        let Some(header) = header else { return fallback };
        let mut best: Option<(f32, usize, Lang)> = None;
        for (index, item) in header.split(',').take(32).enumerate() {
            let mut parts = item.split(';');
            let Some(lang) = parts.next().and_then(Lang::parse) else { continue };
            let q = parts
                .filter_map(|p| p.trim().strip_prefix("q="))
                .find_map(|q| q.trim().parse::<f32>().ok())
                .unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            if best.is_none_or(|(bq, bi, _)| q > bq || (q == bq && index < bi)) {
                best = Some((q, index, lang));
            }
        }
        best.map_or(fallback, |(_, _, lang)| lang)
    }
}

/// A point in time in the customer's zone, for people: `14:30, 3 Dec` / `12月3日 14:30`.
pub fn time(lang: Lang, ms: Millis, offset_minutes: i32) -> String {
    let zone = FixedOffset::east_opt(offset_minutes.clamp(-18 * 60, 18 * 60) * 60)
        .unwrap_or_else(|| FixedOffset::east_opt(0).expect("zero offset"));
    let Some(at) = DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&zone)) else {
        return String::new();
    };
    match lang {
        Lang::En => at.format("%H:%M, %-d %b").to_string(),
        Lang::Zh => at.format("%-m月%-d日 %H:%M").to_string(),
    }
}

/// The zone's name as shown beside times: `UTC+08:00`.
pub fn zone_label(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.unsigned_abs();
    format!("UTC{sign}{:02}:{:02}", m / 60, m % 60)
}

/// One piece of the page's text; each variant is named after the words it stands for.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Text {
    PageTitle,
    Received,
    Assigned,
    OnTheWay,
    OnSite,
    WorkDone,
    Completed,
    Cancelled,
    EngineerIs,
    Eta,
    PromiseArrive,
    PromiseResolve,
    Updates,
    NoUpdates,
    You,
    Service,
    MessageLabel,
    Send,
    Sent,
    RateTitle,
    RateComment,
    RateSend,
    Rated,
    Report,
    TimesIn,
    Live,
    Offline,
}

/// The text of `key` in `lang`.
pub fn t(lang: Lang, key: Text) -> &'static str {
    use Text::*;
    match (lang, key) {
        (Lang::En, PageTitle) => "Your service visit",
        (Lang::Zh, PageTitle) => "您的上门服务",
        (Lang::En, Received) => "Request received",
        (Lang::Zh, Received) => "已受理",
        (Lang::En, Assigned) => "Engineer assigned",
        (Lang::Zh, Assigned) => "已派工程师",
        (Lang::En, OnTheWay) => "On the way",
        (Lang::Zh, OnTheWay) => "工程师在路上",
        (Lang::En, OnSite) => "On site",
        (Lang::Zh, OnSite) => "工程师已到场",
        (Lang::En, WorkDone) => "Work done",
        (Lang::Zh, WorkDone) => "维修完成",
        (Lang::En, Completed) => "Completed",
        (Lang::Zh, Completed) => "服务已完成",
        (Lang::En, Cancelled) => "This request was cancelled.",
        (Lang::Zh, Cancelled) => "此服务单已取消。",
        (Lang::En, EngineerIs) => "Your engineer",
        (Lang::Zh, EngineerIs) => "您的工程师",
        (Lang::En, Eta) => "Expected at",
        (Lang::Zh, Eta) => "预计到达",
        (Lang::En, PromiseArrive) => "We will be with you by",
        (Lang::Zh, PromiseArrive) => "我们承诺最迟到达时间",
        (Lang::En, PromiseResolve) => "We aim to finish by",
        (Lang::Zh, PromiseResolve) => "我们承诺最迟完成时间",
        (Lang::En, Updates) => "Messages",
        (Lang::Zh, Updates) => "留言与回复",
        (Lang::En, NoUpdates) => "No messages yet.",
        (Lang::Zh, NoUpdates) => "暂无留言。",
        (Lang::En, You) => "You",
        (Lang::Zh, You) => "您",
        (Lang::En, Service) => "Service team",
        (Lang::Zh, Service) => "服务团队",
        (Lang::En, MessageLabel) => "Leave a message for your engineer",
        (Lang::Zh, MessageLabel) => "给工程师留言",
        (Lang::En, Send) => "Send",
        (Lang::Zh, Send) => "发送",
        (Lang::En, Sent) => "Sent. Your engineer will see it.",
        (Lang::Zh, Sent) => "已发送，工程师会看到。",
        (Lang::En, RateTitle) => "How did we do?",
        (Lang::Zh, RateTitle) => "请为本次服务评分",
        (Lang::En, RateComment) => "Anything to tell us? (optional)",
        (Lang::Zh, RateComment) => "您的意见（选填）",
        (Lang::En, RateSend) => "Send rating",
        (Lang::Zh, RateSend) => "提交评价",
        (Lang::En, Rated) => "Thank you for your rating",
        (Lang::Zh, Rated) => "感谢您的评价",
        (Lang::En, Report) => "Service report (PDF)",
        (Lang::Zh, Report) => "服务报告（PDF）",
        (Lang::En, TimesIn) => "Times in",
        (Lang::Zh, TimesIn) => "时间为",
        (Lang::En, Live) => "Live",
        (Lang::Zh, Live) => "实时更新",
        (Lang::En, Offline) => "Reconnecting…",
        (Lang::Zh, Offline) => "正在重新连接…",
    }
}

/// What a notification says about one event: the words for an SMS, WeChat or e-mail gateway
/// to send as they are. `engineer` is a first name, times are already in the customer's zone.
/// `None` for kinds the customer is not told about.
pub fn notification(
    lang: Lang,
    kind: &str,
    engineer: Option<&str>,
    eta: Option<&str>,
    promised: Option<&str>,
    link: &str,
) -> Option<String> {
    let who = engineer.filter(|e| !e.is_empty());
    let text = match (lang, kind) {
        (Lang::En, "dispatched" | "reassigned") => {
            let mut s = format!("We have your request. Your engineer is {}.", who.unwrap_or("being chosen"));
            if let Some(p) = promised {
                s.push_str(&format!(" We will be with you by {p}."));
            }
            s
        }
        (Lang::Zh, "dispatched" | "reassigned") => {
            let mut s = format!("您的服务单已受理，工程师：{}。", who.unwrap_or("安排中"));
            if let Some(p) = promised {
                s.push_str(&format!("我们承诺最迟于{p}到达。"));
            }
            s
        }
        (Lang::En, "accepted") => format!("{} has accepted your job.", who.unwrap_or("Your engineer")),
        (Lang::Zh, "accepted") => format!("工程师{}已接单。", who.unwrap_or("")),
        (Lang::En, "travel_started") => match eta {
            Some(eta) => format!("{} is on the way, expected at {eta}.", who.unwrap_or("Your engineer")),
            None => format!("{} is on the way.", who.unwrap_or("Your engineer")),
        },
        (Lang::Zh, "travel_started") => match eta {
            Some(eta) => format!("工程师{}已出发，预计{eta}到达。", who.unwrap_or("")),
            None => format!("工程师{}已出发。", who.unwrap_or("")),
        },
        (Lang::En, "checked_in") => format!("{} has arrived.", who.unwrap_or("Your engineer")),
        (Lang::Zh, "checked_in") => format!("工程师{}已到达现场。", who.unwrap_or("")),
        (Lang::En, "completed") => "Your service is complete. Please rate it:".to_owned(),
        (Lang::Zh, "completed") => "服务已完成，请为本次服务评分：".to_owned(),
        (Lang::En, "cancelled") => "Your service request was cancelled.".to_owned(),
        (Lang::Zh, "cancelled") => "您的服务单已取消。".to_owned(),
        (Lang::En, "customer_rating_low") => "A customer rated a visit poorly: please call them back.".to_owned(),
        (Lang::Zh, "customer_rating_low") => "客户对本次服务评价较低，请尽快回访。".to_owned(),
        _ => return None,
    };
    Some(format!("{text} {link}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_ours_by_weight() {
        assert_eq!(Lang::from_accept_language(Some("zh-CN,zh;q=0.9,en;q=0.8"), Lang::En), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("en-GB,en;q=0.9"), Lang::Zh), Lang::En);
        assert_eq!(Lang::from_accept_language(Some("fr, en;q=0.5, zh;q=0.7"), Lang::En), Lang::Zh);
        assert_eq!(Lang::from_accept_language(Some("fr,de"), Lang::Zh), Lang::Zh, "fallback");
        assert_eq!(Lang::from_accept_language(Some("zh;q=0, en"), Lang::Zh), Lang::En, "q=0 is a refusal");
        assert_eq!(Lang::from_accept_language(None, Lang::En), Lang::En);
    }

    #[test]
    fn times_are_in_the_customers_zone() {
        // 2026-12-03T06:30:00Z
        let ms = 1_796_279_400_000;
        assert_eq!(time(Lang::En, ms, 480), "14:30, 3 Dec");
        assert_eq!(time(Lang::Zh, ms, 480), "12月3日 14:30");
        assert_eq!(time(Lang::En, ms, 0), "06:30, 3 Dec");
        assert_eq!(zone_label(480), "UTC+08:00");
        assert_eq!(zone_label(-150), "UTC-02:30");
    }

    #[test]
    fn notifications_carry_the_link_eta_and_promise() {
        let en = notification(Lang::En, "travel_started", Some("Mei"), Some("14:30, 3 Dec"), None, "https://x/t/abc");
        assert_eq!(en.as_deref(), Some("Mei is on the way, expected at 14:30, 3 Dec. https://x/t/abc"));
        let zh = notification(Lang::Zh, "dispatched", Some("Mei"), None, Some("12月3日 16:00"), "https://x/t/abc")
            .expect("text");
        assert!(zh.contains("12月3日 16:00") && zh.ends_with("https://x/t/abc"), "{zh}");
        assert_eq!(notification(Lang::En, "paused", None, None, None, "l"), None);
    }
}
