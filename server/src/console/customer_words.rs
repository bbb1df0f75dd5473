//! The Chinese of the customers' pages (docs/adr/0018), consulted by `i18n` after its own
//! table: kept apart so neither file outgrows a reader.

/// The Chinese of an English phrase the customers' pages show, if known.
pub(super) fn zh(en: &str) -> Option<&'static str> {
    Some(match en {
        "Customers" => "客户",
        "Customer record" => "客户档案",
        "(none: type the customer below)" => "（无：在下方填写客户）",
        "name, phone, contact or address" => "名称、电话、联系人或地址",
        "Search" => "搜索",
        "Sites" => "现场",
        "New customer" => "新建客户",
        "Customer id (optional)" => "客户编号（可选）",
        "Contacts (name | phone | role, one a line)" => "联系人（姓名 | 电话 | 职务，每行一位）",
        "Sites (label | address, one a line)" => "现场（名称 | 地址，每行一个）",
        "Sites (id | label | address, one a line)" => "现场（编号 | 名称 | 地址，每行一个）",
        "Service contract" => "服务合同",
        "Level" => "级别",
        "Valid from" => "生效日期",
        "Valid until" => "到期日期",
        "Notes (dispatchers only)" => "备注（仅调度可见）",
        "Create customer" => "创建客户",
        "New ticket for this customer" => "为该客户新建工单",
        "Figures" => "数据",
        "closed" => "已关闭",
        "mean first response" => "平均首次响应时间",
        "SLA breaches" => "SLA 违约",
        "Ticket history" => "工单历史",
        "status" => "状态",
        "Contacts" => "联系人",
        "Edit customer" => "编辑客户",
        "Save customer" => "保存客户",
        "A customer record fills in the name, phone, address and tier, and its tier picks the SLA rule." => {
            "选择客户档案后，名称、电话、地址和等级均取自档案，并按其等级选用 SLA 规则。"
        }
        _ => return None,
    })
}
