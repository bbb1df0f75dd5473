//! The statistics page's words in Simplified Chinese (kept beside `i18n`'s table, which
//! falls back to this one).

/// The Chinese of an English phrase the statistics page shows, if known.
pub(super) fn zh(en: &str) -> Option<&'static str> {
    Some(match en {
        "Statistics" => "统计",
        "Tickets created in the range; days and months in the organisation's zone" => {
            "范围内创建的工单；日期与月份按本组织时区计"
        }
        "Most frequent problems by type" => "按类型统计的常见问题",
        "Per customer" => "按客户",
        "Per engineer" => "按工程师",
        "Ageing of open tickets (oldest first)" => "未结工单账龄（最早的在前）",
        "By month" => "按月",
        "By quarter" => "按季度",
        "By year" => "按年",
        "Revisit outcomes" => "回访结果",
        "Complaints by level" => "按级别统计的投诉",
        "Complaints by product" => "按产品统计的投诉",
        "Type" => "类型",
        "Tickets" => "工单数",
        "Share %" => "占比 %",
        "Open" => "未结",
        "Complaints" => "投诉",
        "Customer" => "客户",
        "Mean first response (h)" => "平均首次响应（小时）",
        "Bug share %" => "缺陷占比 %",
        "Completed" => "已完成",
        "Revisited" => "已回访",
        "Engineer" => "工程师",
        "First-time fix %" => "一次修复率 %",
        "Ticket" => "工单",
        "Title" => "标题",
        "Status" => "状态",
        "Created" => "创建日期",
        "Age (days)" => "账龄（天）",
        "Period" => "期间",
        "Change %" => "变化 %",
        "Figure" => "指标",
        "Value" => "数值",
        "Level" => "级别",
        "Product" => "产品",
        "Revisit due, not done" => "应回访未回访",
        "Fixed the first time" => "一次修复",
        "Not fixed the first time" => "未一次修复",
        "(no customer record)" => "（无客户档案）",
        "(none)" => "（无）",
        "(unassigned)" => "（未分配）",
        "Most frequent problems by product" => "按产品统计的常见问题",
        "Most frequent problems by module" => "按模块统计的常见问题",
        "Product / module" => "产品 / 模块",
        "Hours invested" => "投入工时（小时）",
        "Part lines" => "备件条目",
        "Parts used" => "备件数量",
        "Given back" => "拒单",
        "Reassigned away" => "被改派",
        "Hours from the time entries, parts from the parts recorded on the tickets." => {
            "工时来自工时记录，备件来自工单上记录的备件。"
        }
        "Given back: tickets the engineer rejected last; reassigned away: tickets last taken from the engineer." => {
            "拒单：该工程师最后拒绝的工单；被改派：最后从该工程师改派走的工单。"
        }
        "The oldest 50 open tickets; all open tickets are on the board." => {
            "最早的 50 张未结工单；全部未结工单见看板。"
        }
        "All open tickets, whenever created." => "全部未结工单，不论创建时间。",
        _ => return None,
    })
}
